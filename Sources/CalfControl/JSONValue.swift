import FoundationEssentials

/// Any JSON value: what a message, a state or a reply is on the control
/// socket, carried as a value (not as JSON text inside JSON).
///
/// Integers keep their exact value (a seq, nanoseconds since the epoch);
/// objects print with sorted keys, so output is stable.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A whole number that fits in an `Int64`.
    case integer(Int64)
    /// A whole number above `Int64.max`.
    case unsigned(UInt64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    /// Decodes whichever JSON value comes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .unsigned(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as it is.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .unsigned(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue {
    /// Why bytes are not one JSON value.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// What the parser said.
        public let description: String
    }

    /// The value `bytes` (UTF-8 JSON text) hold.
    public init(parsing bytes: [UInt8]) throws(ParseError) {
        let parsed = bytes.withUnsafeBufferPointer { buffer in Result { () throws(ParseError) in try JSONParser.parse(buffer) } }
        self = try parsed.get()
    }

    /// The value `text` (JSON) holds.
    public init(parsing text: String) throws(ParseError) {
        var text = text
        let parsed = text.withUTF8 { buffer in Result { () throws(ParseError) in try JSONParser.parse(buffer) } }
        self = try parsed.get()
    }

    /// The value as JSON text, keys sorted, slashes unescaped.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The value as UTF-8 JSON text, keys sorted, slashes unescaped.
    public var bytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }

    /// The value decoded as `T` (through its JSON text).
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// The string it is, if it is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer it is, if it is one.
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The member `key` of an object (nil for anything else or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    /// A string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An array.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// An object.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    /// `null`.
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: CustomStringConvertible {
    /// The value as JSON text.
    public var description: String { text }
}

/// JSON text written already (a state, a reply the node encoded with
/// `ControlProtocol.encode`), carried into a reply as it is: not parsed into
/// a `JSONValue` only to be written out again.
public struct RawJSON: Codable, Sendable, Equatable, JSONWritable {
    /// The text: one JSON value.
    public let bytes: [UInt8]

    /// Text the caller wrote as one JSON value itself (an encoder's output);
    /// text from outside is parsed (`JSONValue(parsing:)`) instead.
    package init(encoded bytes: [UInt8]) { self.bytes = bytes }

    /// Writes the text as it is.
    public func write(to writer: inout JSONWriter) { writer.raw(bytes) }

    /// Encodes the value the text holds (the encoder's path; replies take `write(to:)`).
    public func encode(to encoder: any Encoder) throws {
        try JSONValue(parsing: bytes).encode(to: encoder)
    }

    /// Decodes any JSON value, as its text.
    public init(from decoder: any Decoder) throws {
        bytes = try JSONValue(from: decoder).bytes
    }
}
