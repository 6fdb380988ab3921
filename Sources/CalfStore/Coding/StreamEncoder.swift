/// The fast path of `BinaryEncoder`: writes `BinaryFormat` straight into one
/// buffer as the value's `encode(to:)` runs, with one placeholder byte for
/// each length and count, widened only when the value needs more (so no
/// per-value objects, unlike the slot encoder).
///
/// It relies on the order Codable code normally writes in: a container's
/// entries before the next write to its parent. Anything else (writing to a
/// container after its parent moved on, a key written twice, a super
/// encoder, a keyed container over 16 entries, whose keys the slot encoder
/// indexes) raises `StreamEncoder.SlowPath`, and `BinaryEncoder` encodes the
/// value again with the slot encoder. Both produce the same bytes.
final class StreamSink {
    /// Raised when the value needs the slot encoder.
    struct SlowPath: Error {}

    struct Frame {
        var id: Int
        /// Offset of the count placeholder; the entries follow it.
        var start: Int
        var count = 0
        var keyed: Bool
        /// Offset of the length placeholder of the entry this frame owns (a
        /// nested container's), or -1 when the enclosing entry closes it.
        var entryStart: Int
        /// Where this frame's key hashes begin in `keyHashes`.
        var keyBase: Int
    }

    struct Entry {
        var token: Int
        var start: Int
        var frame: Int?
        var isNull = false
    }

    // Exclusivity is not checked at run time on these fields (measured: a
    // third of an encode): the sink is used by one encode on one thread,
    // and no access to a field overlaps another to the same field.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// Set as soon as anything needs the slot encoder (even if the value's
    /// own code catches the error).
    @exclusivity(unchecked) var needsSlowPath = false
    @exclusivity(unchecked) var frames: [Frame] = []
    @exclusivity(unchecked) var entries: [Entry] = []
    @exclusivity(unchecked) var keyHashes: [Int] = []
    @exclusivity(unchecked) private var nextID = 1

    init() {
        bytes.reserveCapacity(64)
    }

    /// Marks the encode for the slot encoder; the error to throw.
    func slowPath() -> SlowPath {
        needsSlowPath = true
        return SlowPath()
    }

    /// Runs `body`; on failure marks the encode for the slot encoder and returns 0 (no frame).
    func frameOrSlowPath(_ body: () throws -> Int) -> Int {
        do {
            return try body()
        } catch {
            needsSlowPath = true
            return 0
        }
    }

    func makeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: Entries

    /// Encodes `value` as an entry.
    func entry<T: Encodable>(_ value: T) throws {
        let token = makeID()
        entries.append(Entry(token: token, start: bytes.count, frame: nil))
        bytes.append(0)
        let depth = frames.count
        try value.encode(to: StreamEncoder(sink: self, entry: entries.count - 1, token: token))
        try close(downTo: depth)
        guard let last = entries.popLast(), last.token == token else { throw slowPath() }
        if last.isNull {
            guard bytes.count == last.start + 1 else { throw slowPath() }
            bytes[last.start] = 0
        } else {
            patch(at: last.start, with: UInt64(bytes.count - last.start - 1) + 1)
        }
    }

    /// Writes a scalar entry whose content is `content` bytes long, then `write`s it.
    @inline(__always)
    func scalarEntry(size: Int, _ write: (inout [UInt8]) -> Void) {
        Varint.append(UInt64(size) + 1, to: &bytes)
        write(&bytes)
    }

    /// Writes `value` into the placeholder byte at `offset`, widening it if needed.
    func patch(at offset: Int, with value: UInt64) {
        if value < 0x80 {
            bytes[offset] = UInt8(value)
            return
        }
        var encoded: [UInt8] = []
        Varint.append(value, to: &encoded)
        bytes[offset] = encoded[0]
        bytes.insert(contentsOf: encoded[1...], at: offset + 1)
    }

    // MARK: Frames

    /// Opens a container frame whose count placeholder starts here.
    func openFrame(keyed: Bool, ownsEntryAt entryStart: Int) -> Int {
        let id = makeID()
        frames.append(Frame(id: id, start: bytes.count, keyed: keyed, entryStart: entryStart, keyBase: keyHashes.count))
        bytes.append(0)
        return id
    }

    /// Makes frame `id` the innermost open one (closing those inside it,
    /// which are finished); its index.
    func prepare(_ id: Int) throws -> Int {
        guard let index = frames.lastIndex(where: { $0.id == id }) else { throw slowPath() }
        try close(downTo: index + 1)
        return index
    }

    /// Counts a new key in keyed frame `index` (a repeated key needs the slot encoder).
    func addKey(_ key: String, frame index: Int) throws {
        let hash = key.hashValue
        let frame = frames[index]
        if frame.count >= 16 { throw slowPath() }
        var i = frame.keyBase
        while i < keyHashes.count {
            if keyHashes[i] == hash { throw slowPath() }
            i += 1
        }
        keyHashes.append(hash)
        frames[index].count += 1
        Varint.append(UInt64(key.utf8.count), to: &bytes)
        bytes.append(contentsOf: key.utf8)
    }

    func close(downTo depth: Int) throws {
        while frames.count > depth {
            let frame = frames.removeLast()
            keyHashes.removeSubrange(frame.keyBase...)
            patch(at: frame.start, with: UInt64(frame.count))
            if frame.entryStart >= 0 {
                patch(at: frame.entryStart, with: UInt64(bytes.count - frame.entryStart - 1) + 1)
            }
        }
    }

    /// Checks that entry `index` is still the one with `token` and may take a container.
    func checkEntry(_ index: Int, _ token: Int) throws {
        guard index < entries.count, entries[index].token == token, !entries[index].isNull else { throw slowPath() }
    }
}

struct StreamEncoder: Encoder {
    let sink: StreamSink
    let entry: Int
    let token: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func frame(keyed: Bool) throws -> Int {
        try sink.checkEntry(entry, token)
        if let existing = sink.entries[entry].frame {
            guard let index = sink.frames.lastIndex(where: { $0.id == existing }), sink.frames[index].keyed == keyed else { throw sink.slowPath() }
            return existing
        }
        guard sink.bytes.count == sink.entries[entry].start + 1 else { throw sink.slowPath() }
        let id = sink.openFrame(keyed: keyed, ownsEntryAt: -1)
        sink.entries[entry].frame = id
        return id
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(StreamKeyedContainer<Key>(sink: sink, frame: sink.frameOrSlowPath { try frame(keyed: true) }))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        StreamUnkeyedContainer(sink: sink, frame: sink.frameOrSlowPath { try frame(keyed: false) })
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamSingleContainer(sink: sink, entry: entry, token: token)
    }
}

struct StreamSingleContainer: SingleValueEncodingContainer {
    let sink: StreamSink
    let entry: Int
    let token: Int
    var codingPath: [any CodingKey] { [] }

    private func content() throws {
        try sink.checkEntry(entry, token)
        guard sink.entries[entry].frame == nil, sink.bytes.count == sink.entries[entry].start + 1 else { throw sink.slowPath() }
    }

    mutating func encodeNil() throws {
        try content()
        sink.entries[entry].isNull = true
    }
    mutating func encode(_ value: Bool) throws { try content(); sink.bytes.append(value ? 1 : 0) }
    mutating func encode(_ value: String) throws { try content(); sink.bytes.append(contentsOf: value.utf8) }
    mutating func encode(_ value: Double) throws {
        try content()
        withUnsafeBytes(of: value.bitPattern.littleEndian) { sink.bytes.append(contentsOf: $0) }
    }
    mutating func encode(_ value: Float) throws {
        try content()
        withUnsafeBytes(of: value.bitPattern.littleEndian) { sink.bytes.append(contentsOf: $0) }
    }
    mutating func encode(_ value: Int) throws { try signed(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try signed(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try signed(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try signed(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try signed(value) }
    mutating func encode(_ value: UInt) throws { try unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try unsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try sink.checkEntry(entry, token)
        try value.encode(to: StreamEncoder(sink: sink, entry: entry, token: token))
    }

    private func signed(_ value: Int64) throws {
        try content()
        Varint.append(Varint.zigzag(value), to: &sink.bytes)
    }

    private func unsigned(_ value: UInt64) throws {
        try content()
        Varint.append(value, to: &sink.bytes)
    }
}

/// Scalar entries written in place (the shared part of the keyed and unkeyed containers).
extension StreamSink {
    func writeSigned(_ value: Int64) {
        let zigzag = Varint.zigzag(value)
        scalarEntry(size: Varint.size(zigzag)) { Varint.append(zigzag, to: &$0) }
    }

    func writeUnsigned(_ value: UInt64) {
        scalarEntry(size: Varint.size(value)) { Varint.append(value, to: &$0) }
    }

    func writeString(_ value: String) {
        let utf8 = value.utf8
        scalarEntry(size: utf8.count) { $0.append(contentsOf: utf8) }
    }

    func writeBool(_ value: Bool) {
        scalarEntry(size: 1) { $0.append(value ? 1 : 0) }
    }

    func writeDouble(_ value: Double) {
        scalarEntry(size: 8) { bytes in withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    func writeFloat(_ value: Float) {
        scalarEntry(size: 4) { bytes in withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    }
}

struct StreamKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: StreamSink
    let frame: Int
    var codingPath: [any CodingKey] { [] }

    private func begin(_ key: Key) throws {
        let index = try sink.prepare(frame)
        try sink.addKey(key.stringValue, frame: index)
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); sink.bytes.append(0) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); sink.writeBool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); sink.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); sink.writeDouble(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); sink.writeFloat(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); sink.writeSigned(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); sink.writeUnsigned(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try begin(key); try sink.entry(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(StreamKeyedContainer<NestedKey>(sink: sink, frame: sink.frameOrSlowPath { try nested(key, keyed: true) }))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        StreamUnkeyedContainer(sink: sink, frame: sink.frameOrSlowPath { try nested(key, keyed: false) })
    }

    private func nested(_ key: Key, keyed: Bool) throws -> Int {
        try begin(key)
        let entryStart = sink.bytes.count
        sink.bytes.append(0)
        return sink.openFrame(keyed: keyed, ownsEntryAt: entryStart)
    }

    mutating func superEncoder() -> any Encoder { SlowPathEncoder(sink: sink) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { SlowPathEncoder(sink: sink) }
}

struct StreamUnkeyedContainer: UnkeyedEncodingContainer {
    let sink: StreamSink
    let frame: Int
    var codingPath: [any CodingKey] { [] }
    var count: Int { sink.frames.last(where: { $0.id == frame })?.count ?? 0 }

    private func begin() throws {
        let index = try sink.prepare(frame)
        sink.frames[index].count += 1
    }

    mutating func encodeNil() throws { try begin(); sink.bytes.append(0) }
    mutating func encode(_ value: Bool) throws { try begin(); sink.writeBool(value) }
    mutating func encode(_ value: String) throws { try begin(); sink.writeString(value) }
    mutating func encode(_ value: Double) throws { try begin(); sink.writeDouble(value) }
    mutating func encode(_ value: Float) throws { try begin(); sink.writeFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try begin(); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try begin(); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try begin(); sink.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try begin(); sink.writeSigned(value) }
    mutating func encode(_ value: UInt) throws { try begin(); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try begin(); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try begin(); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try begin(); sink.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try begin(); sink.writeUnsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try begin(); try sink.entry(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(StreamKeyedContainer<NestedKey>(sink: sink, frame: sink.frameOrSlowPath { try nested(keyed: true) }))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        StreamUnkeyedContainer(sink: sink, frame: sink.frameOrSlowPath { try nested(keyed: false) })
    }

    private func nested(keyed: Bool) throws -> Int {
        try begin()
        let entryStart = sink.bytes.count
        sink.bytes.append(0)
        return sink.openFrame(keyed: keyed, ownsEntryAt: entryStart)
    }

    mutating func superEncoder() -> any Encoder { SlowPathEncoder(sink: sink) }
}

/// Handed out where the fast path cannot go on: every container it gives
/// writes nowhere and the value's frame id 0 makes the next write fail, so
/// the encode ends in `SlowPath` and is redone by the slot encoder.
struct SlowPathEncoder: Encoder {
    let sink: StreamSink
    init(sink: StreamSink) {
        self.sink = sink
        sink.needsSlowPath = true
    }
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(StreamKeyedContainer<Key>(sink: sink, frame: 0))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { StreamUnkeyedContainer(sink: sink, frame: 0) }
    func singleValueContainer() -> any SingleValueEncodingContainer { StreamSingleContainer(sink: sink, entry: Int.max, token: 0) }
}
