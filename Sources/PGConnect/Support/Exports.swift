// The string helpers (package access) moved to PGSupport so that PGAuthFiles can use them
// without libpq; every module that imports PGConnect keeps seeing them.
@_exported import PGSupport
