import FoundationEssentials

/// The control protocol spoken on a node's Unix socket `DIR/node.sock`.
///
/// Each request and each reply is one frame: a 4-byte big-endian length,
/// then that many bytes of UTF-8 JSON. A request (`ControlRequest`) is one
/// object, `{"v":2,"cmd":"send","target":"teller","message":{…},"key":"k-1"}`;
/// a reply (`ControlReply`) is `{"v":2,"ok":true,"result":…}` with the
/// result as a JSON value, or `{"v":2,"ok":false,"error":{"code":"…","message":"…"}}`.
/// A frame over `maximumFrame` bytes, or one that does not parse, gets an
/// error reply and closes the connection; so does a request of another
/// version. A `trace` request is answered by a stream: one reply per event
/// with `"more":true`, then a last one without; the client ends it early by
/// closing its side (shutdown for writing) or the connection.
///
/// Version 1 carried messages, results and errors as JSON text inside JSON
/// strings; version 2 carries them as JSON values and errors with a code.
public enum ControlProtocol {
    /// The protocol version this build speaks.
    public static let version = 2
    /// The largest request frame a node accepts, in bytes.
    public static let maximumFrame = 1 << 20
    /// The largest reply frame a client accepts (a `ps` of a big node is large), in bytes.
    public static let maximumReply = 1 << 30

    /// `value` as one frame: its length, then its JSON.
    public static func frame(_ value: some Encodable) throws -> [UInt8] {
        var frame: [UInt8] = [0, 0, 0, 0]
        frame += try encode(value)
        writeLength(into: &frame)
        return frame
    }

    /// Fills a frame's first 4 bytes (left for it) with the length of what follows.
    static func writeLength(into frame: inout [UInt8]) {
        let length = UInt32(frame.count - 4)
        frame[0] = UInt8(length >> 24)
        frame[1] = UInt8(length >> 16 & 0xff)
        frame[2] = UInt8(length >> 8 & 0xff)
        frame[3] = UInt8(length & 0xff)
    }

    /// `value` as the protocol writes JSON: keys sorted (output is stable), slashes as they are.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}
