-- Roles and databases the authentication/authorization tests use (scripts/test.sh runs this
-- as the superuser over the cluster's Unix socket). The matching pg_hba.conf and pg_ident.conf
-- lines are given to cluster.sh in test.sh.
CREATE ROLE locked NOLOGIN;
-- Test-only secrets; the tests assert they never appear in any output.
ALTER ROLE alice PASSWORD 'alice-test-secret-pw';
ALTER ROLE bob PASSWORD 'bob-test-secret-pw';
CREATE DATABASE pwdb;
CREATE DATABASE trustdb;
CREATE DATABASE rejectdb;
CREATE DATABASE mapdb;
CREATE DATABASE dndb;
CREATE DATABASE closeddb;
REVOKE CONNECT ON DATABASE closeddb FROM PUBLIC;
