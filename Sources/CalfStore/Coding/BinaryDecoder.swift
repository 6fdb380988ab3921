/// Decodes `Decodable` values from `BinaryFormat`. Any malformed input
/// (wrong version, truncation, bad lengths, invalid UTF-8, out-of-range
/// integers, missing keys) is a `BinaryDecodingError` or a `DecodingError`,
/// never a crash.
public struct BinaryDecoder: Sendable {
    /// A new decoder.
    public init() {}

    /// Decodes a `T` from a whole document.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    /// Decodes a `T` from a whole document (for example a value read from LMDB).
    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        guard let version = bytes.first else { throw BinaryDecodingError("empty document", path: []) }
        guard version == BinaryFormat.version else {
            throw BinaryDecodingError("unknown format version \(version) (this build reads \(BinaryFormat.version))", path: [])
        }
        var offset = 1
        let value = try EntryReader.read(bytes, at: &offset, end: bytes.count, path: [])
        guard offset == bytes.count else {
            throw BinaryDecodingError("\(bytes.count - offset) bytes after the value", path: [])
        }
        return try T(from: SlotDecoder(bytes: bytes, value: value, codingPath: []))
    }
}

enum EntryReader {
    /// Reads one entry at `offset`: the range of its bytes, or nil for nil.
    static func read(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, end: Int, path: [any CodingKey]) throws -> Range<Int>? {
        guard let header = Varint.read(bytes, at: &offset, end: end) else {
            throw BinaryDecodingError("truncated or overlong length", path: path)
        }
        if header == 0 { return nil }
        let length = header - 1
        guard length <= UInt64(end - offset) else {
            throw BinaryDecodingError("length \(length) runs past the end (\(end - offset) bytes left)", path: path)
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    /// Reads a container's count, bounded by the bytes left (each entry takes at least one).
    static func count(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, end: Int, path: [any CodingKey]) throws -> Int {
        guard let count = Varint.read(bytes, at: &offset, end: end), count <= UInt64(end - offset) else {
            throw BinaryDecodingError("bad container count", path: path)
        }
        return Int(count)
    }
}

struct SlotDecoder: Decoder {
    let bytes: UnsafeRawBufferPointer
    let value: Range<Int>?
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func present() throws -> Range<Int> {
        guard let value else { throw BinaryDecodingError("found nil where a value was expected", path: codingPath) }
        return value
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedSlotDecoder<Key>(bytes: bytes, range: try present(), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedSlotDecoder(bytes: bytes, range: try present(), codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleSlotDecoder(bytes: bytes, value: value, codingPath: codingPath)
    }
}

struct SingleSlotDecoder: SingleValueDecodingContainer {
    let bytes: UnsafeRawBufferPointer
    let value: Range<Int>?
    /// The path is built only when asked for (an error, a nested value):
    /// appending a key per decoded field measured a third of a decode.
    let parentPath: [any CodingKey]
    let key: (any CodingKey)?

    init(bytes: UnsafeRawBufferPointer, value: Range<Int>?, codingPath: [any CodingKey]) {
        self.bytes = bytes
        self.value = value
        parentPath = codingPath
        key = nil
    }

    init(bytes: UnsafeRawBufferPointer, value: Range<Int>?, parentPath: [any CodingKey], key: any CodingKey) {
        self.bytes = bytes
        self.value = value
        self.parentPath = parentPath
        self.key = key
    }

    var codingPath: [any CodingKey] { key.map { parentPath + [$0] } ?? parentPath }

    func decodeNil() -> Bool { value == nil }

    private func range() throws -> Range<Int> {
        guard let value else { throw BinaryDecodingError("found nil where a value was expected", path: codingPath) }
        return value
    }

    private func unsigned() throws -> UInt64 {
        let range = try range()
        var offset = range.lowerBound
        guard let v = Varint.read(bytes, at: &offset, end: range.upperBound), offset == range.upperBound else {
            throw BinaryDecodingError("malformed integer", path: codingPath)
        }
        return v
    }

    private func signed() throws -> Int64 { Varint.unzigzag(try unsigned()) }

    private func fit<T: FixedWidthInteger>(_ value: some BinaryInteger, _: T.Type) throws -> T {
        guard let v = T(exactly: value) else {
            throw BinaryDecodingError("\(value) does not fit in \(T.self)", path: codingPath)
        }
        return v
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        let range = try range()
        guard range.count == 1, bytes[range.lowerBound] <= 1 else { throw BinaryDecodingError("malformed Bool", path: codingPath) }
        return bytes[range.lowerBound] == 1
    }

    func decode(_ type: String.Type) throws -> String {
        let range = try range()
        guard let string = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw BinaryDecodingError("invalid UTF-8", path: codingPath)
        }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        let range = try range()
        guard range.count == 8 else { throw BinaryDecodingError("malformed Double", path: codingPath) }
        return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self)))
    }

    func decode(_ type: Float.Type) throws -> Float {
        let range = try range()
        guard range.count == 4 else { throw BinaryDecodingError("malformed Float", path: codingPath) }
        return Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt32.self)))
    }

    func decode(_ type: Int.Type) throws -> Int { try fit(try signed(), Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try fit(try signed(), Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try fit(try signed(), Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try fit(try signed(), Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try signed() }
    func decode(_ type: UInt.Type) throws -> UInt { try fit(try unsigned(), UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try fit(try unsigned(), UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try fit(try unsigned(), UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try fit(try unsigned(), UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try unsigned() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: SlotDecoder(bytes: bytes, value: value, codingPath: codingPath))
    }
}

struct KeyedSlotDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let bytes: UnsafeRawBufferPointer
    let codingPath: [any CodingKey]
    /// Where the entries are: checked once at init, read again on each
    /// lookup when there are few (no array per container), else kept in an
    /// array with an index by key.
    private let contentStart: Int
    private let end: Int
    private let count: Int
    private let large: (entries: [(key: Range<Int>, value: Range<Int>?)], index: [String: Int])?

    init(bytes: UnsafeRawBufferPointer, range: Range<Int>, codingPath: [any CodingKey]) throws {
        self.bytes = bytes
        self.codingPath = codingPath
        var offset = range.lowerBound
        let count = try EntryReader.count(bytes, at: &offset, end: range.upperBound, path: codingPath)
        contentStart = offset
        end = range.upperBound
        self.count = count
        var entries: [(key: Range<Int>, value: Range<Int>?)] = []
        if count > 16 { entries.reserveCapacity(count) }
        for _ in 0..<count {
            guard let keyLength = Varint.read(bytes, at: &offset, end: range.upperBound),
                  keyLength <= UInt64(range.upperBound - offset) else {
                throw BinaryDecodingError("malformed key", path: codingPath)
            }
            let key = offset..<(offset + Int(keyLength))
            offset = key.upperBound
            let value = try EntryReader.read(bytes, at: &offset, end: range.upperBound, path: codingPath)
            if count > 16 { entries.append((key, value)) }
        }
        guard offset == range.upperBound else { throw BinaryDecodingError("bytes left after a keyed container", path: codingPath) }
        // Large containers (dictionaries with string keys) get an index, so decoding stays linear.
        if count > 16 {
            var index: [String: Int] = [:]
            index.reserveCapacity(entries.count)
            for (position, entry) in entries.enumerated() {
                guard let key = String(validating: UnsafeRawBufferPointer(rebasing: bytes[entry.key]), as: UTF8.self) else {
                    throw BinaryDecodingError("a key is not UTF-8", path: codingPath)
                }
                if index[key] == nil { index[key] = position }
            }
            large = (entries, index)
        } else {
            large = nil
        }
    }

    /// Calls `body` with each (key bytes, value) in document order until it returns true.
    private func forEachEntry(_ body: (Range<Int>, Range<Int>?) -> Bool) {
        if let large {
            for entry in large.entries where body(entry.key, entry.value) { return }
            return
        }
        var offset = contentStart
        for _ in 0..<count {
            // invariant: init checked every entry, so these reads succeed.
            guard let keyLength = Varint.read(bytes, at: &offset, end: end) else { return }
            let key = offset..<(offset + Int(keyLength))
            offset = key.upperBound
            guard let value = try? EntryReader.read(bytes, at: &offset, end: end, path: []) else { return }
            if body(key, value) { return }
        }
    }

    private func keyString(_ range: Range<Int>) -> String? {
        String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    var allKeys: [Key] {
        var keys: [Key] = []
        forEachEntry { key, _ in
            if let name = keyString(key), let typed = Key(stringValue: name) { keys.append(typed) }
            return false
        }
        return keys
    }

    private func find(_ key: Key) -> (found: Bool, value: Range<Int>?) {
        let name = key.stringValue
        if let large {
            guard let position = large.index[name] else { return (false, nil) }
            return (true, large.entries[position].value)
        }
        var result: (found: Bool, value: Range<Int>?) = (false, nil)
        let length = name.utf8.count
        forEachEntry { keyRange, value in
            guard keyRange.count == length, name.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[keyRange])) else { return false }
            result = (true, value)
            return true
        }
        return result
    }

    func contains(_ key: Key) -> Bool { find(key).found }

    private func value(_ key: Key) throws -> SingleSlotDecoder {
        let (found, value) = find(key)
        guard found else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "no value for key \(key.stringValue)"))
        }
        return SingleSlotDecoder(bytes: bytes, value: value, parentPath: codingPath, key: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try value(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try value(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let single = try value(key)
        return try SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let single = try value(key)
        return try SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let value = Key(stringValue: "super").flatMap { find($0).value }
        return SlotDecoder(bytes: bytes, value: value, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        let single = try value(key)
        return SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath)
    }
}

struct UnkeyedSlotDecoder: UnkeyedDecodingContainer {
    let bytes: UnsafeRawBufferPointer
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    private var offset: Int
    private let end: Int

    init(bytes: UnsafeRawBufferPointer, range: Range<Int>, codingPath: [any CodingKey]) throws {
        self.bytes = bytes
        self.codingPath = codingPath
        var offset = range.lowerBound
        count = try EntryReader.count(bytes, at: &offset, end: range.upperBound, path: codingPath)
        self.offset = offset
        end = range.upperBound
    }

    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    private struct Index: CodingKey {
        var stringValue: String { String(intValue ?? 0) }
        var intValue: Int?
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private mutating func next() throws -> SingleSlotDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath + [Index(currentIndex)], debugDescription: "unkeyed container is at its end"))
        }
        let value: Range<Int>?
        do {
            value = try EntryReader.read(bytes, at: &offset, end: end, path: [])
        } catch let error as BinaryDecodingError {
            throw BinaryDecodingError(error.reason, path: codingPath + [Index(currentIndex)])
        }
        let key = Index(currentIndex)
        currentIndex += 1
        if isAtEnd, offset != end { throw BinaryDecodingError("bytes left after an unkeyed container", path: codingPath) }
        return SingleSlotDecoder(bytes: bytes, value: value, parentPath: codingPath, key: key)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, offset < end, bytes[offset] == 0 else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let single = try next()
        return try SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let single = try next()
        return try SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let single = try next()
        return SlotDecoder(bytes: bytes, value: single.value, codingPath: single.codingPath)
    }
}
