/// What pgconnect knows about the messages people meet around certificate logins: libpq's
/// (13–18), the server's log and FATAL lines (13–18, including startup and configuration reload),
/// OpenSSL's verify reasons and TLS alerts, and the common clients that do not use libpq.
///
/// It is data with a typed schema, and the only place messages are recognised: `pgconnect-check`
/// reads libpq's message of a live failure through it (``FailureExplainer``), and
/// `pgconnect-check explain` reads pasted text through it (``MessageExplainer``).
///
/// - ``Cause``: one cause, with its published ``DiagnosisCode``, how to tell it apart, and the fix.
///   A fix never lowers `sslmode`, turns verification off, or opens plaintext access.
/// - ``Message``: one message — how to recognise it, who logs it, which side it talks about, the
///   details to read from it, and its candidate causes in the order real reports established them.
/// - ``TLSVocabulary``: OpenSSL's verify reasons (by text, `X509_V_ERR_*` name and number, and the
///   names Node, rustls, Go, Java and .NET give them) and the TLS alerts, each read by who sent it.
public enum KnowledgeBase {
    /// Which end of the connection wrote a line.
    public enum Side: String, Sendable, Hashable {
        case client
        case server
    }

    /// What a message is about: which side's setup holds the cause.
    public enum Subject: String, Sendable, Hashable {
        /// The server's certificate, as the client verified it.
        case serverCertificate = "server-certificate"
        /// The client's certificate, as the server verified it (or did not receive it).
        case clientCertificate = "client-certificate"
        /// The client's own files and options, refused before the server decided anything.
        case clientFiles = "client-files"
        /// The server's own certificate, key and settings (it may not start).
        case serverSetup = "server-setup"
        /// TCP, name resolution, and whether the server speaks TLS at all.
        case network
        /// The TLS parameters both sides must share (versions, ALPN).
        case negotiation = "tls-negotiation"
        /// pg_hba.conf, the authentication method, user-name maps.
        case authentication
        /// The role and the database, after authentication.
        case authorization
    }

    /// One cause a message can have.
    public struct Cause: Sendable, Hashable {
        /// A stable, fine-grained name (several causes can share one diagnosis code).
        public var id: String
        public var code: DiagnosisCode
        public var layer: Layer
        /// The cause in plain words.
        public var cause: String
        /// What to look at to confirm or rule it out.
        public var howToTell: String
        public var fixes: [String]
    }

    /// A detail read from a message that decides between its causes.
    public enum Detail: String, Sendable, Hashable {
        /// OpenSSL's verify reason (text, `X509_V_ERR_*` name or number, a driver's name for it).
        case verifyReason = "verify-reason"
        /// The TLS alert, read by who logged it.
        case alert
        /// How the connection arrived: `no encryption`/`SSL off` or `SSL encryption`/`SSL on`.
        case encryption
        /// The file path: a default file under a home directory that is not the process's own,
        /// or a Windows path whose backslashes an unquoted conninfo ate.
        case path
        /// The `provided user name (X) and authenticated user name (Y)` pair: quotes inside X.
        case userNames = "user-names"
        /// The reason after the last colon of a file-loading message.
        case loadReason = "load-reason"
        /// The message names the client's own certificate or key (a driver's wrapper text).
        case namesClientCertificate = "names-client-certificate"
    }

    /// One known message.
    public struct Message: Sendable {
        /// A stable name, e.g. `libpq.verify-failed`.
        public var id: String
        /// The programs that print it, with versions.
        public var producers: String
        /// The source that produces it (file and function, or the library's documentation).
        public var source: String
        /// Who writes it; `nil` when the same words reach both (a server's FATAL is sent to the client
        /// and logged by the server).
        public var loggedBy: Side?
        public var about: Subject
        /// Lower-case patterns, any of which recognises the message; `*` stands for any text
        /// within one message. Matching ignores case, runs of white space and line wrapping.
        public var patterns: [String]
        /// What the message means.
        public var meaning: String
        /// Candidate causes (``Cause/id``), most frequent in real reports first.
        public var causes: [String]
        /// Details that reorder the causes.
        public var reads: Set<Detail> = []
        /// Messages that, when they appear in the same text, are this one's cause (this one is
        /// their consequence: the FATAL after a LOG line, the plaintext retry after a TLS failure).
        public var consequenceOf: [String] = []
        /// libpq refused its own files or options before the server was asked.
        public var stopsBeforeServer: Bool = false
        /// SQLSTATEs that identify the message when its words are not known (a translated server
        /// message in verbose form, `FATAL:  28P01: …`).
        public var sqlStates: [String] = []
    }

    /// Every message, every cause, and the TLS vocabulary, as one value (for `explain --catalog`).
    public static var messages: [Message] { Messages.all }
    public static var causes: [Cause] { Causes.all }

    /// The cause named `id`.
    public static func cause(_ id: String) -> Cause {
        guard let cause = Causes.byID[id] else { preconditionFailure("no cause \(id) in the knowledge base") }
        return cause
    }

    /// The libpq version that introduced each connection keyword (and keyword value) newer than
    /// libpq 13. Proven against libpq 15.18, 16.15, 17.10 and 18.6 by `LibPQVersionRulesTests`
    /// (each keyword unknown before its version, known from it on); the two 14 entries only as
    /// known from 15 (no libpq 13 in the tests); `sslrootcert=system` by its own test there.
    public static let keywordsIntroduced: [String: Int] = [
        "sslcrldir": 14, "sslsni": 14,
        "sslcertmode": 16, "require_auth": 16, "load_balance_hosts": 16, "gssdelegation": 16, "sslrootcert=system": 16,
        "sslnegotiation": 17,
        "sslkeylogfile": 18, "min_protocol_version": 18, "max_protocol_version": 18, "oauth_issuer": 18, "oauth_client_id": 18,
        "oauth_client_secret": 18, "oauth_scope": 18, "scram_client_key": 18, "scram_server_key": 18,
    ]

    /// The message named `id`.
    public static func message(_ id: String) -> Message? { Messages.byID[id] }
}
