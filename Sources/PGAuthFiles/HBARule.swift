/// One parsed pg_hba.conf rule (`HbaLine` in src/include/libpq/hba.h).
///
/// Build it from a file with `HBAFile`, or from a row of the server's `pg_hba_file_rules` view with
/// `init(fileRulesViewRow...)`, or directly with the memberwise initializer.
public struct HBARule: Sendable, Hashable {
    /// The file the rule is in (an included file for included rules).
    public var file: String
    /// The line number of the rule's first physical line.
    public var lineNumber: Int
    /// The line as written, continuations joined.
    public var text: String
    /// The connection type column.
    public var connectionType: HBAConnectionType
    /// The database column (a comma-separated list, `@` files expanded).
    public var databases: [HBAToken]
    /// The user column (a comma-separated list, `@` files expanded).
    public var users: [HBAToken]
    /// The address (nil for `local` rules).
    public var address: HBAAddress?
    /// The authentication method (`ident` on a `local` rule is stored as `peer`, as the server does).
    public var method: String
    /// Every `name=value` option as written (a later duplicate wins, as in the server).
    public var options: [String: String]
    /// `verify-ca` or `verify-full`; the `cert` method implies `verify-full`. Nil when not set.
    public var clientCert: String?
    /// Which certificate name `cert` and `clientcert=verify-full` compare: `CN` (default) or `DN`.
    public var clientName: String
    /// The `map=` option: the pg_ident.conf map to use.
    public var map: String?

    /// Creates a rule from its parts.
    public init(file: String, lineNumber: Int, text: String, connectionType: HBAConnectionType,
                databases: [HBAToken], users: [HBAToken], address: HBAAddress?, method: String,
                options: [String: String] = [:], clientCert: String? = nil, clientName: String = "CN",
                map: String? = nil) {
        self.file = file
        self.lineNumber = lineNumber
        self.text = text
        self.connectionType = connectionType
        self.databases = databases
        self.users = users
        self.address = address
        self.method = method
        self.options = options
        self.clientCert = clientCert ?? (method == "cert" ? "verify-full" : nil)
        self.clientName = clientName
        self.map = map
    }

    /// Creates a rule from one row of `pg_hba_file_rules` (PostgreSQL 15: no `file_name`; pass the
    /// hba_file setting).
    ///
    /// The view strips quotes from `database` and `user_name`, so `all`, `sameuser`, `+role` and the
    /// like are read as keywords here (the view itself is ambiguous for names spelled like keywords).
    /// The view does not show `clientname`, so `CN` is assumed; a DN-mapped rule must be given
    /// `clientName: "DN"` by the caller. `address`/`netmask` are the view's columns: a contiguous
    /// netmask becomes `.cidr`, any other netmask `.addressMask`.
    public init(fileRulesViewRow lineNumber: Int, fileName: String, type: String, database: [String],
                userName: [String], address: String?, netmask: String?, authMethod: String,
                options: [String], clientName: String = "CN") {
        let connectionType = HBAConnectionType(rawValue: type) ?? .host
        var parsedAddress: HBAAddress?
        if connectionType != .local, let address {
            switch address {
            case "all": parsedAddress = .all
            case "samehost": parsedAddress = .sameHost
            case "samenet": parsedAddress = .sameNet
            default:
                if let netmask, let mask = IPAddressBytes(parsing: netmask) {
                    if let prefix = mask.contiguousPrefixLength {
                        parsedAddress = .cidr(address: address, prefixLength: prefix)
                    } else {
                        parsedAddress = .addressMask(address: address, mask: netmask)
                    }
                } else if IPAddressBytes(parsing: address) != nil {
                    parsedAddress = .cidr(address: address, prefixLength: address.contains(":") ? 128 : 32)
                } else {
                    parsedAddress = .hostName(address)
                }
            }
        }
        var optionValues: [String: String] = [:]
        for option in options {
            guard let equals = option.firstIndex(of: "=") else { continue }
            optionValues[String(option[..<equals])] = String(option[option.index(after: equals)...])
        }
        let columns = [type, database.joined(separator: ","), userName.joined(separator: ","),
                       parsedAddress?.description ?? "", authMethod] + options
        self.init(file: fileName, lineNumber: lineNumber,
                  text: columns.filter { !$0.isEmpty }.joined(separator: " "),
                  connectionType: connectionType,
                  databases: database.map { HBAToken(value: $0) },
                  users: userName.map { HBAToken(value: $0) },
                  address: parsedAddress, method: authMethod, options: optionValues,
                  clientCert: optionValues["clientcert"], clientName: clientName,
                  map: optionValues["map"])
    }
}
