import CalfStore
import Crypto
import FoundationEssentials

/// A callback as the node keeps it, in the journal's `ledgers` database
/// under the hash of its token (never the token): whose it is, until when,
/// and whether it was delivered (the body's digest) or cancelled. Written
/// in the same commit as the handling that minted it and as the delivery.
package struct CallbackEntry: Sendable, Equatable {
    package enum Status: Sendable, Equatable {
        case pending
        case delivered(digest: [UInt8])
        case cancelled
    }

    package var pid: UInt64
    package var id: UInt64
    package var expiresAt: UInt64
    package var status: Status
    /// What its URL started with when it was minted (replay mints the same URL).
    package var base: String

    /// The ledger key of the callback with `token`: "callback/" and the token's SHA-256 in hex.
    package static func key(token: String) -> StoreKey {
        StoreKey("callback/" + hex(SHA256.hash(data: Array(token.utf8))))
    }

    /// The token of callback `id` of `pid` under `secret`: "c1-" and the
    /// HMAC-SHA256 of (journal identity, pid, id), base64url, 43 characters.
    package static func token(secret: [UInt8], identity: String, pid: UInt64, id: UInt64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("calf-callback:\(identity):\(pid):\(id)".utf8), using: SymmetricKey(data: secret))
        let base64 = Data(mac).base64EncodedString()
        return "c1-" + String(base64.compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
    }

    /// Whether `text` has a token's shape (what is not is unknown without a lookup).
    package static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 46 && text.hasPrefix("c1-") && text.utf8.dropFirst(3).allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
        }
    }

    /// The SHA-256 of a body.
    package static func digest(_ body: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: body)) }

    /// Whether two strings are equal, in time that does not depend on where they differ.
    package static func same(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String($0 >> 4, radix: 16) + String($0 & 0xf, radix: 16) }.joined()
    }

    package init(pid: UInt64, id: UInt64, expiresAt: UInt64, status: Status, base: String) {
        self.pid = pid
        self.id = id
        self.expiresAt = expiresAt
        self.status = status
        self.base = base
    }

    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.varint(pid)
        writer.varint(id)
        writer.varint(expiresAt)
        switch status {
        case .pending: writer.varint(0)
        case .delivered(let digest):
            writer.varint(1)
            writer.field(digest)
        case .cancelled: writer.varint(2)
        }
        writer.string(base)
        return writer.bytes
    }

    package init(decoding bytes: UnsafeRawBufferPointer) throws(LogRecordError) {
        var reader = ByteReader(bytes, what: "callback entry")
        pid = try reader.varint("pid")
        id = try reader.varint("id")
        expiresAt = try reader.varint("expiry")
        switch try reader.varint("status") {
        case 0: status = .pending
        case 1: status = .delivered(digest: try reader.field("digest"))
        case 2: status = .cancelled
        case let other: throw LogRecordError(seq: nil, reason: "callback entry has status \(other), this build reads 0 to 2")
        }
        base = try reader.string("base")
    }
}
