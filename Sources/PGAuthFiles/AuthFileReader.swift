#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads authentication files the way the simulator needs: bounded in size, never blocking on a FIFO
/// or device, with errors worded like the server's (`open_auth_file()` in hba.c).
package enum AuthFileReader {
    /// Files larger than this are refused (the server has no limit; the simulator will not read an
    /// unbounded file).
    static let maximumFileSize = 10 * 1024 * 1024

    /// The outcome of reading one file.
    package enum ReadResult {
        case contents(String)
        /// The file does not exist (`ENOENT`); `include_if_exists` skips it.
        case missing(message: String)
        case failed(message: String)
    }

    /// Reads a regular file of at most `maximumFileSize` bytes. Opens with `O_NONBLOCK` and checks the
    /// type with `fstat()` before reading, so a FIFO, socket or device is refused instead of blocking.
    package static func read(path: String) -> ReadResult {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let code = errno
            let message = "could not open file \"\(path)\": \(errorText(code))"
            return code == ENOENT ? .missing(message: message) : .failed(message: message)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            return .failed(message: "could not read file \"\(path)\": \(errorText(errno))")
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            return .failed(message: "could not read file \"\(path)\": \(errorText(EISDIR))")
        }
        guard type == S_IFREG else {
            return .failed(message: "could not read file \"\(path)\": not a regular file (the simulator does not read FIFOs, sockets or devices)")
        }
        if Int(info.st_size) > maximumFileSize {
            return .failed(message: "could not read file \"\(path)\": file is larger than 10 MB; the simulator refuses to read it")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                posixRead(fd, buffer.baseAddress, buffer.count)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return .failed(message: "could not read file \"\(path)\": \(errorText(errno))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumFileSize {
                return .failed(message: "could not read file \"\(path)\": file is larger than 10 MB; the simulator refuses to read it")
            }
        }
        return .contents(String(decoding: bytes, as: UTF8.self))
    }

    package enum DirectoryListing {
        case success([String])
        case failure(String)
    }

    /// The `.conf` files of a directory in byte order, as `GetConfFilesInDir()` (conffiles.c) lists
    /// them: names of at least 6 bytes ending in `.conf`, not starting with `.`, not directories.
    package static func confFiles(inDirectory directory: String) -> DirectoryListing {
        guard let dir = opendir(directory) else {
            return .failure("could not open directory \"\(directory)\"")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let utf8 = Array(name.utf8)
            guard utf8.count >= 6, utf8.first != UInt8(ascii: "."), name.hasSuffix(".conf") else { continue }
            let full = AuthFilePath.join(directory, name)
            var info = stat()
            if stat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { continue }
            names.append(full)
        }
        return .success(names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }

    package static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

/// `read(2)`, under a name that does not clash with `read(path:)` above.
@inline(__always)
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.read(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.read(fd, buffer, count)
    #else
    return Glibc.read(fd, buffer, count)
    #endif
}

/// Path handling as PostgreSQL does it for included files (`AbsoluteConfigLocation()`,
/// `canonicalize_path()`): a relative name is taken relative to the directory of the including file.
package enum AuthFilePath {
    /// `location` resolved against the directory holding `callingFile`.
    package static func resolve(_ location: String, relativeTo callingFile: String) -> String {
        if location.hasPrefix("/") { return canonicalize(location) }
        return canonicalize(join(parentDirectory(of: callingFile), location))
    }

    /// The directory holding `path` (`get_parent_directory()`); `.` for a bare file name.
    package static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    package static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Removes duplicate slashes, `.` components and a trailing slash; resolves `..` lexically.
    package static func canonicalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
                continue
            }
            if part == "..", absolute, parts.isEmpty { continue }
            parts.append(part)
        }
        let body = parts.joined(separator: "/")
        if absolute { return "/" + body }
        return body.isEmpty ? "." : body
    }
}
