// The snippets of PGConnect's "Getting started" article. Compiled by `swift build`; run against
// the test server by GettingStartedSnippetTests (the hidden lines point it at that server).
import PGConnect
import PGDiagnostics

// snippet.hide
import Foundation

let environment = ProcessInfo.processInfo.environment
// snippet.show

// snippet.connect
var options = ConnectionOptions()
options.host = ["db.internal"]
options.dbname = "app"
options.user = "app"
options.sslmode = .verifyFull
options.sslrootcert = "/etc/app/tls/root.crt"
options.sslcert = "/etc/app/tls/app.crt"
options.sslkey = "/etc/app/tls/app.key"
// snippet.hide
// The test server instead of db.internal (SNIPPET_HOST, SNIPPET_PORT, SNIPPET_PKI).
if let host = environment["SNIPPET_HOST"], let port = environment["SNIPPET_PORT"].flatMap(Int.init), let pki = environment["SNIPPET_PKI"] {
    options.host = [host]
    options.port = [port]
    options.dbname = "postgres"
    options.user = "alice"
    options.sslrootcert = "\(pki)/root.crt"
    options.sslcert = "\(pki)/alice.crt"
    options.sslkey = "\(pki)/alice.key"
}
// snippet.show

let connection = try await Connection.connect(options, timeout: .seconds(10))
// snippet.end

// snippet.hide
_ = try await connection.query("CREATE TEMP TABLE widgets (id int, name text, created timestamptz, owner text)")
_ = try await connection.query("INSERT INTO widgets VALUES (1, 'gear', now(), 'app')")
// snippet.show

// snippet.query
let result = try await connection.query("SELECT id, name, created FROM widgets WHERE owner = $1", ["app"])
for row in result {
    print(row["id"]?.int ?? 0, row["name"]?.string ?? "", row["created"]?.date as Any)
}
// snippet.end

// snippet.tls
if let tls = connection.tlsSession {
    print(tls.protocolVersion ?? "", tls.cipher ?? "", tls.serverCertificate?.subject ?? "")
}
print(connection.timings.phaseDurations)
// snippet.end

// snippet.notifications
try await connection.listen("jobs")
// snippet.hide
let notifier = try await Connection.connect(options)
_ = try await notifier.query("NOTIFY jobs, 'ready'")
await notifier.close()
// snippet.show
for try await notification in connection.notifications() {
    print(notification.channel, notification.payload)
    // snippet.hide
    break
    // snippet.show
}
// snippet.end
await connection.close()

// snippet.pool
let pool = ConnectionPool(options: options, configuration: .init(maximumConnections: 4))
let count = try await pool.withConnection { connection in
    try await connection.query("SELECT count(*) FROM pg_roles")[0][0].int
}
await pool.shutdown()
// snippet.end
print("roles:", count ?? 0)

// snippet.readiness
let report = await PGDiagnostics.check(options)
if !report.ok { print(report.diagnosis?.code.rawValue ?? "unknown", report.diagnosis?.summary ?? "") }
// snippet.end
print("ready:", report.ok)
