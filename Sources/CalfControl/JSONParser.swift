/// Parses JSON text (RFC 8259) into a `JSONValue`, or piece by piece for a
/// type that reads itself (`JSONReadable`: no tree of values in between).
///
/// Written by hand because Foundation's `JSONDecoder` takes over half a
/// second for the 18 MiB of a `ps` of 100,000 processes; this takes a
/// fraction of that. Strict: one value, whitespace around it, nothing
/// after; strings must be valid UTF-8 without raw control characters;
/// nesting is limited to `maximumDepth`.
public struct JSONParser {
    /// How deeply arrays and objects may nest.
    static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// The value `bytes` hold.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONValue.ParseError) -> JSONValue {
        try read(bytes) { parser throws(JSONValue.ParseError) in try parser.readValue() }
    }

    /// What `body` reads from `bytes`, which must hold one value and nothing after it.
    static func read<T>(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (inout JSONParser) throws(JSONValue.ParseError) -> T) throws(JSONValue.ParseError) -> T {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try body(&parser)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the value") }
        return value
    }

    // MARK: Reading piece by piece

    /// Reads a whole value.
    public mutating func readValue() throws(JSONValue.ParseError) -> JSONValue {
        skipWhitespace()
        return try value(depth: 0)
    }

    /// Reads the `{` of an object (then `nextKey()` until it returns nil).
    public mutating func beginObject() throws(JSONValue.ParseError) {
        try expect(UInt8(ascii: "{"), "an object")
        afterOpening = true
    }

    /// The next member's key (its value is read next), or nil at the object's end.
    public mutating func nextKey() throws(JSONValue.ParseError) -> String? {
        guard try nextItem(closing: UInt8(ascii: "}")) else { return nil }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
        let key = try string()
        skipWhitespace()
        try expect(UInt8(ascii: ":"), "':'")
        return key
    }

    /// Reads the `[` of an array (then `nextElement()` until it returns false).
    public mutating func beginArray() throws(JSONValue.ParseError) {
        try expect(UInt8(ascii: "["), "an array")
        afterOpening = true
    }

    /// Whether another element follows (it is read next); false at the array's end.
    public mutating func nextElement() throws(JSONValue.ParseError) -> Bool {
        try nextItem(closing: UInt8(ascii: "]"))
    }

    /// Reads a string.
    public mutating func readString() throws(JSONValue.ParseError) -> String {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string") }
        return try string()
    }

    /// Reads a string or `null`.
    public mutating func readOptionalString() throws(JSONValue.ParseError) -> String? {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "n") {
            _ = try literal("null", .null)
            return nil
        }
        return try readString()
    }

    /// Reads an integer that fits in an `Int`.
    public mutating func readInteger() throws(JSONValue.ParseError) -> Int {
        guard case .integer(let value) = try readNumber(), let int = Int(exactly: value) else { throw error("expected an integer") }
        return int
    }

    /// Reads a non-negative integer.
    public mutating func readUnsigned() throws(JSONValue.ParseError) -> UInt64 {
        switch try readNumber() {
        case .integer(let value) where value >= 0: return UInt64(value)
        case .unsigned(let value): return value
        default: throw error("expected a non-negative integer")
        }
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws(JSONValue.ParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "t"): _ = try literal("true", .bool(true)); return true
        case UInt8(ascii: "f"): _ = try literal("false", .bool(false)); return false
        default: throw error("expected true or false")
        }
    }

    /// Reads an array of strings.
    public mutating func readStrings() throws(JSONValue.ParseError) -> [String] {
        try beginArray()
        var strings: [String] = []
        while try nextElement() { strings.append(try readString()) }
        return strings
    }

    /// Reads a value and drops it (a member a reader does not know).
    public mutating func skipValue() throws(JSONValue.ParseError) {
        _ = try readValue()
    }

    /// An error at the current position, saying what was wrong.
    public func failure(_ what: String) -> JSONValue.ParseError { error(what) }

    /// Just after a `{` or `[`: the first item needs no comma.
    private var afterOpening = false

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONValue.ParseError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { throw error("expected \(what)") }
        index += 1
    }

    private mutating func readNumber() throws(JSONValue.ParseError) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
            throw error("expected a number")
        }
        return try number()
    }

    /// Past the comma before the next item; false (the closing byte read) at the end.
    private mutating func nextItem(closing: UInt8) throws(JSONValue.ParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        if bytes[index] == closing {
            index += 1
            afterOpening = false
            return false
        }
        if afterOpening {
            afterOpening = false
        } else {
            guard bytes[index] == UInt8(ascii: ",") else { throw error("expected ',' or '\(Character(Unicode.Scalar(closing)))'") }
            index += 1
            skipWhitespace()
        }
        return true
    }

    private func error(_ what: String) -> JSONValue.ParseError {
        JSONValue.ParseError(description: "not JSON: \(what) at byte \(index)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(JSONValue.ParseError) -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw error("unexpected character") }
        index += count
        return value
    }

    private mutating func object(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth)") }
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            members[key] = try value(depth: depth)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func string() throws(JSONValue.ParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try utf8(start..<index)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("a control character in a string") }
            index += 1
        }
        var scalars = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: scalars, as: UTF8.self) else { throw error("a string that is not UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("unexpected end") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0c)
                case UInt8(ascii: "n"): scalars.append(0x0a)
                case UInt8(ascii: "r"): scalars.append(0x0d)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"): scalars.append(contentsOf: try unicodeEscape())
                default: throw error("an unknown escape")
                }
            default:
                if byte < 0x20 { throw error("a control character in a string") }
                scalars.append(byte)
                index += 1
            }
        }
        throw error("an unterminated string")
    }

    private func utf8(_ range: Range<Int>) throws(JSONValue.ParseError) -> String {
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw error("a string that is not UTF-8")
        }
        return text
    }

    /// `\uXXXX` (a surrogate pair as two), as UTF-8.
    private mutating func unicodeEscape() throws(JSONValue.ParseError) -> [UInt8] {
        var code = try hex4()
        if (0xD800...0xDBFF).contains(code) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("a lone surrogate")
            }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(code) {
            throw error("a lone surrogate")
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("an invalid code point") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func hex4() throws(JSONValue.ParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("a bad \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    private mutating func number() throws(JSONValue.ParseError) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw error("a number without digits") }
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                magnitude = plus
                overflow = overflow || o1 || o2
                index += 1
            }
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            try digits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
        if integral, !overflow {
            if !negative, magnitude > UInt64(Int64.max) { return .unsigned(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .integer(negative ? -Int64(magnitude) : Int64(magnitude)) }
            if negative, magnitude == UInt64(Int64.max) + 1 { return .integer(.min) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw error("a number out of range") }
        // As Foundation's decoder reads it: a whole value (`1.5e2`, `0.0`) is an integer.
        if let exact = Int64(exactly: double) { return .integer(exact) }
        return .double(double)
    }

    private mutating func digits() throws(JSONValue.ParseError) {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > start else { throw error("a number without digits") }
    }
}
