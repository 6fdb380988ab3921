/// The hosts an `HTTPConnector` may send requests to, so that a handler
/// (or a URL that came in a callback's body and was echoed) cannot make
/// the node fetch what it should not reach: its own API, a cloud's
/// metadata address, an internal service.
///
/// Each entry is `host` (any port), `host:port`, `*.domain` (the domain's
/// subdomains, any port) or `*` (anything). Hosts compare without case;
/// an IPv6 address is written in brackets (`[::1]:8080`). Empty, the
/// default, allows nothing.
public struct HostAllowList: Sendable, Hashable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The entries, as given.
    public let entries: [String]

    /// A list.
    public init(_ entries: [String]) { self.entries = entries }

    /// A list.
    public init(arrayLiteral entries: String...) { self.init(entries) }

    /// Whether a request to `host` on `port` may be sent.
    public func allows(host: String, port: Int) -> Bool {
        let host = host.lowercased()
        return entries.contains { entry in
            let entry = entry.lowercased()
            if entry == "*" { return true }
            let (pattern, entryPort) = Self.split(entry)
            if let entryPort, entryPort != port { return false }
            if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst()) }
            return pattern == host
        }
    }

    /// "host" or "host:port" (an IPv6 address in brackets) as its parts, the brackets gone.
    private static func split(_ entry: String) -> (host: String, port: Int?) {
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { return (entry, nil) }
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        guard let colon = entry.lastIndex(of: ":"), let port = Int(entry[entry.index(after: colon)...]) else { return (entry, nil) }
        return (String(entry[..<colon]), port)
    }

    /// The entries, or "nothing".
    public var description: String { entries.isEmpty ? "nothing" : entries.joined(separator: ", ") }
}
