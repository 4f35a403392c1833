import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGDiagnostics

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain an error message from psql, an application or the server log.",
        discussion: """
            Give the message as an argument or on standard input. The output lists its possible \
            causes, most likely first, how to tell them apart, and the fixes. Nothing is connected. \
            Exit status 0 when a message was recognised, 1 when none was.
            """
    )

    @Argument(help: "The message (read from standard input when omitted).")
    var text: [String] = []

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(help: "Print the knowledge base itself (every known message and cause) as JSON, and exit.")
    var catalog = false

    func run() throws {
        if catalog {
            print(ExplanationRenderer.catalog())
            return
        }
        let input: String
        if text.isEmpty {
            input = String(decoding: StandardStreams.readInput(limit: MessageExplainer.inputLimit), as: UTF8.self)
        } else {
            input = text.joined(separator: " ")
        }
        let findings = MessageExplainer().explain(input)
        switch format {
        case .text: print(ExplanationRenderer.text(findings), terminator: "")
        case .json: print(ExplanationRenderer.json(findings))
        }
        if findings.isEmpty { throw ExitCode(1) }
    }
}
