#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PGConnect
import Synchronization

/// Shares client-file inspections between the checks of one run of many targets
/// (`pgconnect-check --targets`): logins that use the same certificate, key and root files — the
/// usual case for a fleet — parse them once instead of once per target.
///
/// An entry is reused only for the same settings and the same files on disk: path, device,
/// inode, size, modification time, mode and owner of each, read with `stat` for every target, so a
/// file replaced during the run is inspected again.
final class ClientFilesCache: Sendable {
    private let entries = Mutex<[Key: ClientFilesInspector.Result]>([:])

    struct Key: Hashable {
        var settings: [String?]
        var files: [Stamp?]
    }

    /// What `stat` says about one file (nil in ``Key/files``: it does not exist).
    struct Stamp: Hashable {
        var path: String
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int, modifiedNanoseconds: Int
        var mode: UInt32, owner: UInt32, group: UInt32
    }

    /// The inspection of `target`'s files: a shared one when the same files were inspected before.
    func inspect(_ target: ResolvedTarget, with inspector: ClientFilesInspector) -> ClientFilesInspector.Result {
        let key = Self.key(target, inspector: inspector)
        if let known = entries.withLock({ $0[key] }) { return known }
        let result = inspector.inspect(target)
        entries.withLock { $0[key] = result }
        return result
    }

    private static func key(_ target: ResolvedTarget, inspector: ClientFilesInspector) -> Key {
        let files = target.files
        let paths = [files.rootCertificate?.path, files.certificate?.path, files.key?.path, target.effective["sslcrl"]]
        return Key(settings: [target.sslmode.rawValue, target.effective.sslpassword, String(inspector.expiryWarningDays), files.home?.path]
                       + [files.rootCertificate, files.certificate, files.key].map { $0.map { $0.named ? "named" : "default" } } + paths,
                   files: paths.map { $0.flatMap(stamp) })
    }

    private static func stamp(_ path: String) -> Stamp? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        #if canImport(Darwin)
        let modified = status.st_mtimespec
        #else
        let modified = status.st_mtim
        #endif
        return Stamp(path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                     modified: Int(modified.tv_sec), modifiedNanoseconds: Int(modified.tv_nsec),
                     mode: UInt32(status.st_mode), owner: UInt32(status.st_uid), group: UInt32(status.st_gid))
    }
}
