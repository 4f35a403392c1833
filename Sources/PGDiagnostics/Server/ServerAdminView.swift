#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect

/// `pgconnect-check server --admin CONNINFO`: the setup check from the running server's point of view.
struct ServerAdminView {
    var request: ServerSetupCheck.Request
    var options: ConnectionOptions
    var now: Date
    var logger: Logger

    func run() async throws -> ServerSetupReport {
        throw ServerSetupCheck.InputError("--admin is not available yet")
    }
}
