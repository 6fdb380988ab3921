import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The secret every request to a node's HTTP API carries
/// (`Authorization: Bearer TOKEN`), kept in a file of its own.
public struct BearerToken: Sendable {
    /// The token as it is sent: 64 hexadecimal digits.
    public let value: String

    /// A token of `value` (a file of the operator's).
    public init(value: String) {
        self.value = value
    }

    /// Reads the token in `path`, or, if there is no such file, makes one
    /// of 32 random bytes written as hex, readable by its owner only.
    /// - Throws: `HTTPAPIError.tokenFile` naming the file and why.
    public static func loadOrCreate(at path: String) throws(HTTPAPIError) -> BearerToken {
        if let existing = FileManager.default.contents(atPath: path) {
            let text = String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw .tokenFile(path, "it must hold one token of printable characters")
            }
            return BearerToken(value: text)
        }
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0xf, radix: 16)
        }.joined()
        // O_EXCL: two nodes racing on one directory cannot both write it (the data directory lock comes first anyway).
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .tokenFile(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array((hex + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw .tokenFile(path, "could not write it") }
        return BearerToken(value: hex)
    }

    /// Whether an `Authorization` header's value carries this token
    /// (compared in time that does not depend on where they differ).
    public func admits(_ authorization: String?) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        let given = Array(authorization.utf8.dropFirst("Bearer ".utf8.count))
        let expected = Array(value.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0
    }
}

/// What keeps a node's HTTP API from starting.
public enum HTTPAPIError: Error, CustomStringConvertible, Equatable {
    /// The token file cannot be read or made.
    case tokenFile(String, String)
    /// `--http` is not HOST:PORT.
    case badAddress(String)

    /// What went wrong, naming the file or the option.
    public var description: String {
        switch self {
        case .tokenFile(let path, let why): "the HTTP token file \(path): \(why)"
        case .badAddress(let text): "--http wants HOST:PORT (127.0.0.1:0 picks a port), not '\(text)'"
        }
    }
}
