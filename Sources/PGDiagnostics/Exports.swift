// The pg_hba.conf / pg_ident.conf parser and simulator live in PGAuthFiles (no libpq, no
// OpenSSL); `import PGDiagnostics` keeps giving them, as before they moved.
@_exported import PGAuthFiles
