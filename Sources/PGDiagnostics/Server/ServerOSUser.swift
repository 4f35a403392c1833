#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The operating-system user the server runs as, and what that user may do with a file — decided
/// from the file modes, owners and group memberships, so the check can run as root (or as anyone
/// who can read the files) and still answer for the server's user.
///
/// Only the classic permission bits are read: POSIX ACLs, SELinux/AppArmor and read-only mounts
/// are not (a report says so when a file is readable by these rules).
public struct ServerOSUser: Sendable, Hashable {
    /// The user id.
    public var uid: uid_t
    /// The primary group.
    public var gid: gid_t
    /// The user name (`uid N` without a passwd entry).
    public var name: String
    /// Every group the user is in (primary and supplementary).
    public var groups: [gid_t]

    /// Creates a user from its parts.
    public init(uid: uid_t, gid: gid_t, name: String, groups: [gid_t]) {
        self.uid = uid
        self.gid = gid
        self.name = name
        self.groups = groups
    }

    /// The user `name` from the passwd and group databases.
    public static func named(_ name: String) -> ServerOSUser? {
        guard let entry = getpwnam(name) else { return nil }
        return user(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, name: name)
    }

    /// The user with `uid` (named `uid N` when it has no passwd entry).
    public static func withID(_ uid: uid_t) -> ServerOSUser {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else {
            return ServerOSUser(uid: uid, gid: gid_t.max, name: "uid \(uid)", groups: [])
        }
        return user(uid: uid, gid: entry.pointee.pw_gid, name: String(cString: name))
    }

    private static func user(uid: uid_t, gid: gid_t, name: String) -> ServerOSUser {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        #if canImport(Darwin)
        var signed = groups.map { Int32(bitPattern: $0) }
        if getgrouplist(name, Int32(bitPattern: gid), &signed, &count) < 0 {
            signed = [gid_t](repeating: 0, count: Int(count)).map { Int32(bitPattern: $0) }
            _ = getgrouplist(name, Int32(bitPattern: gid), &signed, &count)
        }
        groups = signed.prefix(Int(count)).map { gid_t(bitPattern: $0) }
        #else
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &groups, &count)
        }
        groups = Array(groups.prefix(Int(count)))
        #endif
        return ServerOSUser(uid: uid, gid: gid, name: name, groups: groups.isEmpty ? [gid] : groups)
    }

    /// The owner of `path` (the server must own its data directory: it refuses to start otherwise).
    public static func owner(of path: String) -> ServerOSUser? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return withID(status.st_uid)
    }

    /// What `stat` says about a file, for reports.
    public struct FileStatus: Sendable, Hashable {
        /// The permission bits (`st_mode & 0o7777`).
        public var mode: mode_t
        /// The owner and its name.
        public var owner: uid_t
        public var ownerName: String
        /// The group.
        public var group: gid_t
        /// The file type.
        public var isRegularFile: Bool
        public var isDirectory: Bool

        /// `0640`.
        public var modeText: String { String(mode & 0o7777, radix: 8).leftPadded(to: 4) }
    }

    /// `stat(2)` of `path`, or the `errno` text.
    public static func status(_ path: String) -> Result<FileStatus, StatError> {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(StatError(code: errno)) }
        let type = status.st_mode & S_IFMT
        return .success(FileStatus(mode: status.st_mode & 0o7777, owner: status.st_uid,
                                   ownerName: withID(status.st_uid).name, group: status.st_gid,
                                   isRegularFile: type == S_IFREG, isDirectory: type == S_IFDIR))
    }

    /// A failed `stat`.
    public struct StatError: Error, Sendable, Hashable {
        /// The `errno`.
        public var code: Int32
        /// `strerror`.
        public var text: String { AuthFileReader.errorText(code) }
        public var isMissing: Bool { code == ENOENT || code == ENOTDIR }
    }

    /// Why this user cannot open `path` for reading, or nil when it can: every directory on the
    /// way must be searchable (x) and the file readable (r), by owner, group or other bits.
    /// The text is `strerror(EACCES)` plus the place that denies it.
    public func readProblem(_ path: String, directory: Bool = false) -> String? {
        guard uid != 0 else { return nil }
        let absolute = path.hasPrefix("/") ? path : AuthFilePath.join(currentDirectory(), path)
        var components = absolute.split(separator: "/").map(String.init)
        let last = components.popLast()
        var walked = ""
        for component in components {
            walked += "/" + component
            if !allowed(walked, S_IXUSR, S_IXGRP, S_IXOTH) {
                return "the directory \(walked) is not searchable by \(name) (\(describe(walked)))"
            }
        }
        guard last != nil else { return nil }
        if !allowed(absolute, S_IRUSR, S_IRGRP, S_IROTH) {
            return "\(name) may not read it (\(describe(absolute)))"
        }
        if directory, !allowed(absolute, S_IXUSR, S_IXGRP, S_IXOTH) {
            return "\(name) may not search it (\(describe(absolute)))"
        }
        return nil
    }

    private func allowed(_ path: String, _ ownerBit: mode_t, _ groupBit: mode_t, _ otherBit: mode_t) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else { return true }  // a missing file is reported as missing
        if status.st_uid == uid { return status.st_mode & ownerBit != 0 }
        if groups.contains(status.st_gid) { return status.st_mode & groupBit != 0 }
        return status.st_mode & otherBit != 0
    }

    private func describe(_ path: String) -> String {
        guard case .success(let status) = Self.status(path) else { return "cannot stat" }
        let group = getgrgid(status.group).flatMap { $0.pointee.gr_name.map { String(cString: $0) } } ?? "gid \(status.group)"
        return "owner \(status.ownerName), group \(group), mode \(status.modeText)"
    }

    private func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
