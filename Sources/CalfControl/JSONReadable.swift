/// A value that reads itself from JSON text piece by piece (the large
/// answers: `ps`), without Foundation's decoder and without a tree of
/// `JSONValue`s in between; it reads what its `Codable` form writes.
public protocol JSONReadable {
    /// Reads the value at the parser's position.
    /// - Throws: `JSONValue.ParseError` naming what is wrong and where.
    init(reading parser: inout JSONParser) throws(JSONValue.ParseError)
}

extension JSONReadable {
    /// The value `bytes` (UTF-8 JSON text) hold.
    public init(parsing bytes: [UInt8]) throws(JSONValue.ParseError) {
        let read = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONValue.ParseError) in
                try JSONParser.read(buffer) { parser throws(JSONValue.ParseError) in try Self(reading: &parser) }
            }
        }
        self = try read.get()
    }
}

extension Array: JSONReadable where Element: JSONReadable {
    /// Reads each element.
    public init(reading parser: inout JSONParser) throws(JSONValue.ParseError) {
        self = []
        try parser.beginArray()
        while try parser.nextElement() { append(try Element(reading: &parser)) }
    }
}

extension JSONValue: JSONReadable, JSONWritable {
    /// Reads a whole value.
    public init(reading parser: inout JSONParser) throws(JSONValue.ParseError) {
        self = try parser.readValue()
    }

    /// Writes the value, object keys sorted.
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let value): writer.bool(value)
        case .integer(let value): writer.integer(Int(value))
        case .unsigned(let value): writer.unsigned(value)
        case .double(let value): writer.raw(ControlProtocol.numberText(value))
        case .string(let value): writer.string(value)
        case .array(let values): values.write(to: &writer)
        case .object(let members):
            writer.beginObject()
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                writer.key(key)
                writer.value(value)
            }
            writer.endObject()
        }
    }
}

extension ControlProtocol {
    /// A double as JSON text, as Foundation's encoder writes it.
    static func numberText(_ value: Double) -> [UInt8] {
        (try? encode(value)) ?? Array("null".utf8)
    }
}

extension ControlError: JSONReadable {
    /// Reads `{"code":…,"message":…}` (and `"retryAfterMilliseconds"`, if there).
    public init(reading parser: inout JSONParser) throws(JSONValue.ParseError) {
        var code: String?
        var message: String?
        var retryAfter: Int64?
        try parser.beginObject()
        while let key = try parser.nextKey() {
            switch key {
            case "code": code = try parser.readString()
            case "message": message = try parser.readString()
            case "retryAfterMilliseconds": retryAfter = Int64(try parser.readInteger())
            default: try parser.skipValue()
            }
        }
        guard let code, let message else { throw parser.failure("an error without its code or message") }
        self.init(Code(rawValue: code), message, retryAfterMilliseconds: retryAfter)
    }
}
