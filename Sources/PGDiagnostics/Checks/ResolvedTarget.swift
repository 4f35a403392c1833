#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// One login's options, resolved exactly once — conninfo, command-line overrides, a service
/// file entry, libpq's `PG*` environment and defaults, and the files libpq will use — into the
/// value every stage of a check reads. Nothing after this re-parses or re-resolves.
///
/// Resolving never touches the network (see ``ConnectionOptions/effective()``).
public struct ResolvedTarget: Sendable {
    /// The options as given.
    public let given: ConnectionOptions
    /// What libpq is handed: the given options with a service's entries made explicit (so that
    /// the service file is read once, here) and `service` removed.
    public let options: ConnectionOptions
    /// Every keyword's value after libpq's environment and defaults.
    public let effective: ConnectionOptions
    /// Why libpq would refuse the options before connecting; nil when they are acceptable.
    public let invalid: ConnectionError?
    /// The files libpq will use, by its rules for the linked version.
    public let files: LibPQFiles

    /// Resolves `given` for the linked libpq in this process's environment.
    public init(_ given: ConnectionOptions, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.given = given
        var invalid: ConnectionError?
        do {
            try given.validate()
        } catch let error as ConnectionError {
            invalid = error
        } catch {
            invalid = ConnectionError(code: .invalidOptions, phase: .options, message: "\(error)")
        }
        self.invalid = invalid
        let effective = invalid == nil ? given.effective() : given
        var options = given
        if invalid == nil, let service = given["service"] ?? environment["PGSERVICE"], !service.isEmpty {
            // Only libpq reads pg_service.conf: its resolved values become explicit options.
            options = effective
            options["service"] = nil
        }
        self.options = options
        self.effective = effective
        files = LibPQFiles(effective: effective, home: LibPQRules.homeDirectory(environment: environment))
    }

    /// The effective `sslmode` (libpq's default is prefer).
    /// (Options that passed ``invalid`` hold a valid sslmode: libpq checked it.)
    public var sslmode: SSLMode { effective.sslmode ?? .prefer }
    /// The first host libpq tries (libpq's default: a Unix socket, reported as localhost here).
    public var firstHost: String { effective.host.first ?? "localhost" }
    /// Why libpq's own attempt must not be made for this login, if it must not: the two cases
    /// where the attempt would do harm instead of telling the truth (see ``LibPQRules/attemptHazard(_:)``).
    public var attemptHazard: String? {
        guard sslmode != .disable else { return nil }
        return LibPQRules.attemptHazard(files)
    }

    /// The first port libpq tries.
    public var firstPort: Int { effective.port.first ?? 5432 }
}
