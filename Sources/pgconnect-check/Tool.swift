import ArgumentParser
import PGConnect

@main
struct Tool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgconnect-check",
        abstract: "Check a PostgreSQL client-certificate login and explain why it fails.",
        discussion: """
            Examples:
              pgconnect-check "host=db.internal user=app dbname=app sslmode=verify-full \\
                  sslrootcert=root.crt sslcert=app.crt sslkey=app.key"
              pgconnect-check --format json postgresql://app@db.internal/app?sslmode=verify-full
              pgconnect-check inspect app.crt app.key root.crt
              pgconnect-check server /var/lib/postgresql/15/main --name db.internal
              pgconnect-check server /var/lib/postgresql/15/main --client-cert alice.crt --user app

            Exit status: 0 connected; 1 the server refused the login; 2 no usable connection \
            (network, TLS); 3 the local setup cannot work (options, client files); 64 usage error.
            """,
        version: "pgconnect-check 0.1.0 (\(LibPQ.runtime.shortSummary))",
        subcommands: [CheckCommand.self, ExplainCommand.self, InspectCommand.self, ServerCommand.self],
        defaultSubcommand: CheckCommand.self,
        helpNames: [.long, .customShort("?")]
    )

    /// `pgconnect-check CONNINFO` alone, the everyday call, runs without building the parser for
    /// the whole command tree; every other command line goes through ArgumentParser.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let request = CheckRequest(soleConninfo: arguments) {
            do {
                try request.validate()
                try await request.run()
                Self.exit(withError: nil)
            } catch {
                Self.exit(withError: error)
            }
        }
        await main(arguments)
    }
}
