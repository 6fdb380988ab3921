/// Encodes `Encodable` values in `BinaryFormat`.
///
/// ```swift
/// let bytes = try BinaryEncoder().encode(Transfer(from: 3, to: 7, amount: 25))
/// let back = try BinaryDecoder().decode(Transfer.self, from: bytes)
/// ```
public struct BinaryEncoder: Sendable {
    /// A new encoder.
    public init() {}

    /// The document for `value`: the version byte, then the value as an entry.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(value, appendingTo: &bytes)
        return bytes
    }

    /// Appends the document for `value` to `bytes` (after a header the
    /// caller wrote, say), saving a buffer and a copy.
    public func encode<T: Encodable>(_ value: T, appendingTo bytes: inout [UInt8]) throws {
        let sink = StreamSink()
        let start = bytes.count
        swap(&sink.bytes, &bytes)
        defer { swap(&sink.bytes, &bytes) }
        sink.bytes.append(BinaryFormat.version)
        do {
            try sink.entry(value)
            if !sink.needsSlowPath { return }
        } catch is StreamSink.SlowPath {
            // Encoded again below.
        }
        sink.bytes.removeSubrange(start...)
        sink.bytes.append(contentsOf: try encodeWithSlots(value))
    }

    /// The slot encoder: a tree of values, then their bytes (any Codable order).
    func encodeWithSlots<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = EncodingSlot()
        try value.encode(to: SlotEncoder(slot: root, codingPath: []))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + root.entrySize())
        bytes.append(BinaryFormat.version)
        root.writeEntry(into: &bytes)
        return bytes
    }
}

/// One value being encoded: filled in by whichever container its encoder hands out.
final class EncodingSlot {
    enum Content {
        case empty
        case null
        case bool(Bool)
        case signed(Int64)
        case unsigned(UInt64)
        case double(Double)
        case float(Float)
        case string(String)
        case keyed(KeyedEntries)
        case unkeyed(UnkeyedEntries)
    }

    var content = Content.empty

    /// The number of bytes `write` produces.
    func size() -> Int {
        switch content {
        case .empty, .null: 0
        case .bool: 1
        case .signed(let v): Varint.size(Varint.zigzag(v))
        case .unsigned(let v): Varint.size(v)
        case .double: 8
        case .float: 4
        case .string(let v): v.utf8.count
        case .keyed(let entries):
            entries.items.reduce(Varint.size(UInt64(entries.items.count))) { total, item in
                let keyCount = item.0.utf8.count
                return total + Varint.size(UInt64(keyCount)) + keyCount + item.1.entrySize()
            }
        case .unkeyed(let entries):
            entries.items.reduce(Varint.size(UInt64(entries.items.count))) { $0 + $1.entrySize() }
        }
    }

    /// The number of bytes `writeEntry` produces.
    func entrySize() -> Int {
        if case .null = content { return 1 }
        let inner = size()
        return Varint.size(UInt64(inner) + 1) + inner
    }

    /// Writes this value's bytes (without its length).
    func write(into bytes: inout [UInt8]) {
        switch content {
        case .empty, .null:
            break
        case .bool(let v):
            bytes.append(v ? 1 : 0)
        case .signed(let v):
            Varint.append(Varint.zigzag(v), to: &bytes)
        case .unsigned(let v):
            Varint.append(v, to: &bytes)
        case .double(let v):
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .float(let v):
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .string(let v):
            bytes.append(contentsOf: v.utf8)
        case .keyed(let entries):
            Varint.append(UInt64(entries.items.count), to: &bytes)
            for (key, slot) in entries.items {
                Varint.append(UInt64(key.utf8.count), to: &bytes)
                bytes.append(contentsOf: key.utf8)
                slot.writeEntry(into: &bytes)
            }
        case .unkeyed(let entries):
            Varint.append(UInt64(entries.items.count), to: &bytes)
            for slot in entries.items { slot.writeEntry(into: &bytes) }
        }
    }

    /// Writes this value as an entry: `length + 1` and the bytes, or 0 for nil.
    func writeEntry(into bytes: inout [UInt8]) {
        if case .null = content {
            bytes.append(0)
            return
        }
        Varint.append(UInt64(size()) + 1, to: &bytes)
        write(into: &bytes)
    }
}

final class KeyedEntries {
    var items: [(String, EncodingSlot)] = []
    /// Positions by key, built once a container is large (a dictionary
    /// with string keys), so encoding it stays linear.
    private var index: [String: Int]?

    func slot(for key: String) -> EncodingSlot {
        if let index {
            if let position = index[key] { return items[position].1 }
        } else if let existing = items.first(where: { $0.0 == key }) {
            return existing.1
        }
        let slot = EncodingSlot()
        items.append((key, slot))
        if index != nil {
            index?[key] = items.count - 1
        } else if items.count > 16 {
            index = Dictionary(items.enumerated().map { ($0.element.0, $0.offset) }, uniquingKeysWith: { first, _ in first })
        }
        return slot
    }
}

final class UnkeyedEntries {
    var items: [EncodingSlot] = []

    func next() -> EncodingSlot {
        let slot = EncodingSlot()
        items.append(slot)
        return slot
    }
}

/// The encoders report an empty `codingPath` below the root: building the
/// path costs an array allocation per encoded field (measured: 15% of an
/// encode), and this encoder throws no errors that would show it.
struct SlotEncoder: Encoder {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let entries: KeyedEntries
        if case .keyed(let existing) = slot.content {
            entries = existing
        } else {
            entries = KeyedEntries()
            slot.content = .keyed(entries)
        }
        return KeyedEncodingContainer(KeyedSlotEncoder<Key>(entries: entries, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let entries: UnkeyedEntries
        if case .unkeyed(let existing) = slot.content {
            entries = existing
        } else {
            entries = UnkeyedEntries()
            slot.content = .unkeyed(entries)
        }
        return UnkeyedSlotEncoder(entries: entries, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleSlotEncoder(slot: slot, codingPath: codingPath)
    }
}

struct SingleSlotEncoder: SingleValueEncodingContainer {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.content = .null }
    mutating func encode(_ value: Bool) throws { slot.content = .bool(value) }
    mutating func encode(_ value: String) throws { slot.content = .string(value) }
    mutating func encode(_ value: Double) throws { slot.content = .double(value) }
    mutating func encode(_ value: Float) throws { slot.content = .float(value) }
    mutating func encode(_ value: Int) throws { slot.content = .signed(Int64(value)) }
    mutating func encode(_ value: Int8) throws { slot.content = .signed(Int64(value)) }
    mutating func encode(_ value: Int16) throws { slot.content = .signed(Int64(value)) }
    mutating func encode(_ value: Int32) throws { slot.content = .signed(Int64(value)) }
    mutating func encode(_ value: Int64) throws { slot.content = .signed(value) }
    mutating func encode(_ value: UInt) throws { slot.content = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { slot.content = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { slot.content = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { slot.content = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { slot.content = .unsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: SlotEncoder(slot: slot, codingPath: codingPath))
    }
}

struct KeyedSlotEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let entries: KeyedEntries
    let codingPath: [any CodingKey]

    private func single(_ key: Key) -> SingleSlotEncoder {
        SingleSlotEncoder(slot: entries.slot(for: key.stringValue), codingPath: codingPath)
    }

    mutating func encodeNil(forKey key: Key) throws { entries.slot(for: key.stringValue).content = .null }
    mutating func encode(_ value: Bool, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { var s = single(key); try s.encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(slot: entries.slot(for: key.stringValue), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        SlotEncoder(slot: entries.slot(for: key.stringValue), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(slot: entries.slot(for: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SlotEncoder(slot: entries.slot(for: key.stringValue), codingPath: codingPath)
    }
}

struct UnkeyedSlotEncoder: UnkeyedEncodingContainer {
    let entries: UnkeyedEntries
    let codingPath: [any CodingKey]
    var count: Int { entries.items.count }

    private func single() -> SingleSlotEncoder {
        SingleSlotEncoder(slot: entries.next(), codingPath: codingPath)
    }

    mutating func encodeNil() throws { entries.next().content = .null }
    mutating func encode(_ value: Bool) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: String) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Double) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Float) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Int) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Int8) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Int16) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Int32) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: Int64) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: UInt) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: UInt8) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: UInt16) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: UInt32) throws { var s = single(); try s.encode(value) }
    mutating func encode(_ value: UInt64) throws { var s = single(); try s.encode(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { var s = single(); try s.encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(slot: entries.next(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        SlotEncoder(slot: entries.next(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(slot: entries.next(), codingPath: codingPath)
    }
}
