import PGAuthFiles
import PGConnect

extension HBASimulator.Request {
    /// Creates a request that presents `certificate` over SSL.
    public init(clientAddress: String, database: String, user: String, certificate: CertificateInfo?,
                roleMemberships: [String]? = nil) {
        self.init(connectionType: .tcp, ssl: true, clientAddress: clientAddress, database: database,
                  user: user, roleMemberships: roleMemberships,
                  certificateCommonName: certificate?.commonName, certificateDN: certificate?.subject,
                  clientCertificatePresented: certificate != nil)
    }
}
