#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// The logins an exporter may probe: the targets of a targets file, by name (or, for a line
/// without one, by `user@host:port/dbname`), and — when allowed — the services of libpq's
/// service file. A name that is neither is refused before anything connects, so a scraper
/// cannot point the exporter at a host of its choosing.
public struct ExporterTargets: Sendable {
    /// The targets file's targets.
    public let targets: [ManyTargets.Target]
    /// Whether a name not in the file may be a service of the service file (`service=NAME`).
    public let allowServices: Bool
    private let byName: [String: ConnectionOptions]

    /// The names of ``targets``, in file order.
    public let names: [String]

    /// - Throws: `ConnectionError` when two lines of the file come out under the same name.
    public init(targets: [ManyTargets.Target], allowServices: Bool) throws {
        self.targets = targets
        self.allowServices = allowServices
        var byName: [String: ConnectionOptions] = [:]
        var names: [String] = []
        for target in targets {
            let name = target.label
            guard byName[name] == nil else {
                throw ConnectionError(code: .invalidConninfo, phase: .options,
                                      message: "line \(target.line): a second target called \"\(name)\"; name the lines (NAME: conninfo) to tell them apart")
            }
            byName[name] = target.options
            names.append(name)
        }
        self.byName = byName
        self.names = names
    }

    /// The options of the target called `name`, or nil when there is none.
    public func options(for name: String) -> ConnectionOptions? {
        if let options = byName[name] { return options }
        guard allowServices, Self.isServiceName(name) else { return nil }
        var options = ConnectionOptions()
        options["service"] = name
        // libpq reads the service file; an unknown service never reaches the network.
        return options.libpqAccepts ? options : nil
    }

    /// A plausible service name: letters, digits, `_`, `.`, `-`, at most 100 characters.
    static func isServiceName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 100
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)) }
    }
}
