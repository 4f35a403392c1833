import Foundation

/// Issues real client certificates with the openssl command-line tool, signed by a fixture CA.
public enum CertificateFactory {
    /// Writes `<name>.crt` and `<name>.key` (EC P-256, mode 0600) into `directory`, with subject
    /// `/O=pgconnect/CN=<commonName>`, clientAuth, signed by `caCertificate`/`caKey`, valid `days` days.
    public static func issue(commonName: String, name: String, days: Int, caCertificate: String, caKey: String,
                             directory: URL) throws -> (certificate: String, key: String) {
        let key = directory.appendingPathComponent("\(name).key").path
        let request = directory.appendingPathComponent("\(name).csr").path
        let certificate = directory.appendingPathComponent("\(name).crt").path
        let extensions = directory.appendingPathComponent("\(name).ext").path
        try "extendedKeyUsage = clientAuth\nbasicConstraints = critical, CA:FALSE\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
        chmod(key, 0o600)
        try openssl(["req", "-new", "-key", key, "-subj", "/O=pgconnect/CN=\(commonName)", "-out", request])
        try openssl(["x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-set_serial",
                     String(UInt32.random(in: 1...UInt32.max)), "-days", String(days), "-extfile", extensions, "-out", certificate])
        return (certificate, key)
    }

    /// Runs the openssl command-line tool with `arguments`; throws when it fails.
    public static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "openssl", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.prefix(2).joined(separator: " ")) failed"])
        }
    }
}
