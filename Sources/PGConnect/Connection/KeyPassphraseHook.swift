import CLibPQ
import Synchronization

/// libpq's OpenSSL key-passphrase hook, installed process-wide before the first connection.
///
/// Without a hook, libpq hands an encrypted `sslkey` with no `sslpassword` to OpenSSL's default
/// callback, which prompts `Enter PEM pass phrase:` on the terminal and hangs a service or a
/// script. Ours answers with the connection's `sslpassword` when there is one (through libpq's
/// default hook, which copies exactly that), and otherwise answers "no passphrase" at once and
/// remembers that the key asked, so the failure can say why.
enum KeyPassphraseHook {
    /// Connections whose key asked for a passphrase that was not given (by `PGconn` address).
    private static let askedWithoutPassword = Mutex<Set<UInt>>([])

    private static let installOnce: Void = {
        PQsetSSLKeyPassHook_OpenSSL { buffer, size, conn in
            guard let buffer, size > 0 else { return 0 }
            if let conn, KeyPassphraseHook.hasPassword(conn) {
                return PQdefaultSSLKeyPassHook_OpenSSL(buffer, size, conn)
            }
            if let conn { KeyPassphraseHook.askedWithoutPassword.withLock { _ = $0.insert(UInt(bitPattern: conn)) } }
            buffer[0] = 0
            return 0
        }
    }()

    /// Installs the hook (idempotent, thread-safe).
    static func install() { _ = installOnce }

    /// Whether `conn`'s key asked for a passphrase that was not given; forgets the record.
    static func takeAskedWithoutPassword(_ conn: OpaquePointer) -> Bool {
        askedWithoutPassword.withLock { $0.remove(UInt(bitPattern: conn)) != nil }
    }

    private static func hasPassword(_ conn: OpaquePointer) -> Bool {
        guard let options = PQconninfo(conn) else { return false }
        defer { PQconninfoFree(options) }
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if String(cString: keyword) == "sslpassword" {
                guard let value = cursor.pointee.val else { return false }
                return value.pointee != 0
            }
            cursor += 1
        }
        return false
    }
}
