import FoundationEssentials

/// A reply from the node, its result typed as `Result` (`JSONValue` when
/// the client does not know or care what comes).
///
/// On the wire: `{"v":2,"ok":true,"result":…}`, with `"more":true` for one
/// reply of a stream (`trace`), or `{"v":2,"ok":false,"error":{…}}`.
/// The node encodes a typed result straight into the frame (no JSON inside
/// JSON), and a client decodes it straight into the type it expects.
public enum ControlReply<Result: Codable & Sendable>: Sendable {
    /// The request was answered with `result`.
    case success(Result)
    /// One reply of a stream (`trace`); more follow.
    case streamed(Result)
    /// The request was refused.
    case failure(ControlError)

    /// The result of a success (or a streamed reply).
    /// - Throws: the `ControlError` of a failure.
    public func get() throws(ControlError) -> Result {
        switch self {
        case .success(let result), .streamed(let result): return result
        case .failure(let error): throw error
        }
    }

    /// The same reply with its result transformed.
    public func map<Other>(_ transform: (Result) -> Other) -> ControlReply<Other> {
        switch self {
        case .success(let result): .success(transform(result))
        case .streamed(let result): .streamed(transform(result))
        case .failure(let error): .failure(error)
        }
    }

    /// Whether more replies to the same request follow.
    public var isStreamed: Bool {
        if case .streamed = self { return true }
        return false
    }
}

extension ControlReply: Equatable where Result: Equatable {}

extension ControlReply: Codable {
    private enum Key: String, CodingKey { case v, ok, result, error, more }

    /// Decodes a reply of this protocol version (another version is a decoding error naming it).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        let version = try container.decode(Int.self, forKey: .v)
        guard version == ControlProtocol.version else {
            throw DecodingError.dataCorruptedError(forKey: .v, in: container, debugDescription: "a reply of protocol version \(version) (this client speaks \(ControlProtocol.version))")
        }
        if try container.decode(Bool.self, forKey: .ok) {
            let result = try container.decode(Result.self, forKey: .result)
            self = try container.decodeIfPresent(Bool.self, forKey: .more) == true ? .streamed(result) : .success(result)
        } else {
            self = .failure(try container.decode(ControlError.self, forKey: .error))
        }
    }

    /// Encodes the reply as the protocol's version.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(ControlProtocol.version, forKey: .v)
        switch self {
        case .success(let result):
            try container.encode(true, forKey: .ok)
            try container.encode(result, forKey: .result)
        case .streamed(let result):
            try container.encode(true, forKey: .ok)
            try container.encode(true, forKey: .more)
            try container.encode(result, forKey: .result)
        case .failure(let error):
            try container.encode(false, forKey: .ok)
            try container.encode(error, forKey: .error)
        }
    }
}

extension ControlReply {
    /// The reply `body` (a frame's JSON) holds. A result that reads itself
    /// (`JSONReadable`: `JSONValue`, the reports of `ps`) is read by
    /// `JSONParser`, anything else through Foundation's decoder.
    public static func read(_ body: [UInt8]) throws -> ControlReply<Result> {
        guard let readable = Result.self as? any JSONReadable.Type else {
            return try JSONDecoder().decode(ControlReply<Result>.self, from: Data(body))
        }
        let read = body.withUnsafeBufferPointer { buffer in
            Swift.Result { () throws(JSONValue.ParseError) in
                try JSONParser.read(buffer) { parser throws(JSONValue.ParseError) in try envelope(&parser, result: readable) }
            }
        }
        return try read.get()
    }

    private static func envelope(_ parser: inout JSONParser, result readable: any JSONReadable.Type) throws(JSONValue.ParseError) -> ControlReply<Result> {
        var version: Int?
        var ok: Bool?
        var more = false
        var result: Result?
        var error: ControlError?
        try parser.beginObject()
        while let key = try parser.nextKey() {
            switch key {
            case "v": version = try parser.readInteger()
            case "ok": ok = try parser.readBool()
            case "more": more = try parser.readBool()
            case "result":
                // `readable` is `Result.self`, so what it reads is a `Result`.
                guard let read = try readable.init(reading: &parser) as? Result else { throw parser.failure("a result of another type") }
                result = read
            case "error": error = try ControlError(reading: &parser)
            default: try parser.skipValue()
            }
        }
        guard version == ControlProtocol.version else {
            throw parser.failure("a reply of protocol version \(version.map(String.init) ?? "none") (this client speaks \(ControlProtocol.version))")
        }
        switch (ok, result, error) {
        case (true?, let result?, _): return more ? .streamed(result) : .success(result)
        case (false?, _, let error?): return .failure(error)
        default: throw parser.failure("a reply without its result or error")
        }
    }
}

/// A reply as the node sends it: the frame, encoded once (off the socket's thread).
public struct EncodedReply: Sendable {
    /// The frame: length, then JSON.
    public let frame: [UInt8]
    /// The reply was a stream's last (or only) one.
    public let isLast: Bool

    /// `reply` as a frame; a result that cannot be encoded becomes a failure
    /// saying so. A result that writes itself (`JSONWritable`) is written
    /// by `JSONWriter`, anything else by Foundation's encoder.
    public init<R>(_ reply: ControlReply<R>) {
        isLast = !reply.isStreamed
        if let frame = Self.written(reply) {
            self.frame = frame
            return
        }
        do {
            frame = try ControlProtocol.frame(reply)
        } catch {
            // invariant: a reply of a ControlError and a string always encodes.
            frame = (try? ControlProtocol.frame(ControlReply<JSONValue>.failure(ControlError(.encodingFailed, "cannot encode the answer: \(error)")))) ?? []
        }
    }

    /// The frame of a success whose result writes itself: the envelope's
    /// keys in sorted order, as the encoder writes them.
    private static func written<R>(_ reply: ControlReply<R>) -> [UInt8]? {
        let result: R
        let more: Bool
        switch reply {
        case .success(let value): (result, more) = (value, false)
        case .streamed(let value): (result, more) = (value, true)
        case .failure: return nil
        }
        guard let writable = result as? any JSONWritable else { return nil }
        var writer = JSONWriter(bytes: [0, 0, 0, 0])
        writer.beginObject()
        if more {
            writer.key("more")
            writer.bool(true)
        }
        writer.key("ok")
        writer.bool(true)
        writer.key("result")
        writer.value(writable)
        writer.key("v")
        writer.integer(ControlProtocol.version)
        writer.endObject()
        var frame = writer.bytes
        ControlProtocol.writeLength(into: &frame)
        return frame
    }

    /// A success with `result`.
    public static func success(_ result: some Codable & Sendable) -> EncodedReply { EncodedReply(ControlReply.success(result)) }
    /// One reply of a stream.
    public static func streamed(_ result: some Codable & Sendable) -> EncodedReply { EncodedReply(ControlReply.streamed(result)) }
    /// A refusal.
    public static func failure(_ error: ControlError) -> EncodedReply { EncodedReply(ControlReply<JSONValue>.failure(error)) }
    /// A refusal of `code` with `message`.
    public static func failure(_ code: ControlError.Code, _ message: String) -> EncodedReply { failure(ControlError(code, message)) }
}
