import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGDiagnostics

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what certificate, CA bundle and key files contain.",
        discussion: """
            For each certificate: the CN and the RFC 2253 DN (the forms cert authentication and \
            clientname=DN compare), SAN, issuer, serial, validity, key type, extended key usage, \
            CA or not. For each key: type, whether it is encrypted, and which of the certificates \
            given beside it it belongs to. Exit status 0, or 3 when a file cannot be read.
            """
    )

    @Argument(help: "Certificate, CA bundle or key files (PEM or DER).")
    var files: [String]

    @Option(help: ArgumentHelp("Open encrypted keys with the passphrase in FILE (never echoed).", valueName: "FILE"))
    var sslpasswordFile: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        var passphrase: String?
        if let sslpasswordFile {
            passphrase = try PassphraseFile.read(sslpasswordFile)
        }
        let inspected = FileInspector().inspect(files, passphrase: passphrase)
        switch format {
        case .text: print(InspectionRenderer.text(inspected), terminator: "")
        case .json: print(InspectionRenderer.json(inspected))
        }
        if inspected.contains(where: { $0.kind == "unreadable" }) { throw ExitCode(3) }
    }
}
