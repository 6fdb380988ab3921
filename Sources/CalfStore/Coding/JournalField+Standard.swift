// The standard library's types as fields of `@JournalCoded` types: integers
// as (zigzag) varints, floating point as its IEEE bits, strings as
// length-prefixed UTF-8, collections as a count and their elements.

extension Int: JournalField {
    /// A zigzag varint (small magnitudes take one byte).
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.int(self) }
    /// Reads a zigzag varint.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.int(field) }
}

extension Int64: JournalField {
    /// A zigzag varint.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.int64(self) }
    /// Reads a zigzag varint.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.int64(field) }
}

extension UInt64: JournalField {
    /// A varint.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.varint(self) }
    /// Reads a varint.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.varint(field) }
}

/// A signed integer narrower than 64 bits: written as an `Int64` (a zigzag
/// varint), read back only if it fits.
public protocol JournalNarrowSignedInteger: FixedWidthInteger, SignedInteger, JournalField {}

extension JournalNarrowSignedInteger {
    /// A zigzag varint.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.int64(Int64(self)) }
    /// Reads a zigzag varint that fits.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let wide = try reader.int64(field)
        self = try reader.fitting(wide, field)
    }
}

/// An unsigned integer other than `UInt64` and `UInt8`: written as a
/// `UInt64` (a varint), read back only if it fits.
public protocol JournalNarrowUnsignedInteger: FixedWidthInteger, UnsignedInteger, JournalField {}

extension JournalNarrowUnsignedInteger {
    /// A varint.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.varint(UInt64(self)) }
    /// Reads a varint that fits.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let wide = try reader.varint(field)
        self = try reader.fitting(wide, field)
    }
}

extension Int32: JournalNarrowSignedInteger {}
extension Int16: JournalNarrowSignedInteger {}
extension Int8: JournalNarrowSignedInteger {}
extension UInt: JournalNarrowUnsignedInteger {}
extension UInt32: JournalNarrowUnsignedInteger {}
extension UInt16: JournalNarrowUnsignedInteger {}

extension UInt8: JournalField {
    /// One byte.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.byte(self) }
    /// Reads one byte.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.byte(field) }
}

extension Bool: JournalField {
    /// A flag byte.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.bool(self) }
    /// Reads a flag byte (0 or 1; anything else is an error).
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.bool(field) }
}

extension Double: JournalField {
    /// The 8 IEEE bytes.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.double(self) }
    /// Reads 8 IEEE bytes.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.double(field) }
}

extension Float: JournalField {
    /// Its 32 IEEE bits, as a varint.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.varint(UInt64(bitPattern)) }
    /// Reads the bits of a `Float`.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let wide = try reader.varint(field)
        self = Float(bitPattern: try reader.fitting(wide, field))
    }
}

extension String: JournalField {
    /// Length-prefixed UTF-8.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { writer.string(self) }
    /// Reads length-prefixed UTF-8 (invalid UTF-8 is an error).
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws { self = try reader.string(field) }
}

extension Duration: JournalField {
    /// Its seconds and attoseconds, as two zigzag varints.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) {
        writer.int64(components.seconds)
        writer.int64(components.attoseconds)
    }
    /// Reads seconds and attoseconds.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        self.init(secondsComponent: try reader.int64(field), attosecondsComponent: try reader.int64(field))
    }
}

extension Optional: JournalField where Wrapped: JournalField {
    /// A flag byte, then the value if there is one.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) {
        if let self {
            writer.byte(1)
            self.writeJournalField(to: &writer)
        } else {
            writer.byte(0)
        }
    }
    /// Reads a flag byte and, when it is 1, the value.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        self = try reader.bool(field) ? Wrapped(readingJournalField: &reader, named: field) : nil
    }
}

extension Array: JournalField where Element: JournalField {
    /// The count, then the elements in order.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) {
        writer.varint(UInt64(count))
        for element in self { element.writeJournalField(to: &writer) }
    }
    /// Reads the count and the elements.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let count = try reader.journalElementCount(field)
        self.init()
        reserveCapacity(count)
        for _ in 0..<count { append(try Element(readingJournalField: &reader, named: field)) }
    }
}

extension Set: JournalField where Element: JournalField {
    /// The count, then the elements in the order of their bytes: the same
    /// set writes the same bytes in every process (a set's iteration order
    /// is seeded per process, and the bytes of what a durable process sends
    /// are digested and compared on replay).
    public func writeJournalField(to writer: inout ByteWriter) {
        writer.varint(UInt64(count))
        guard count > 1 else {
            for element in self { element.writeJournalField(to: &writer) }
            return
        }
        for bytes in JournalOrdering.sortedEncodings(of: self) { writer.rest(bytes) }
    }
    /// Reads the count and the elements; an element twice is an error.
    public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let count = try reader.journalElementCount(field)
        self.init(minimumCapacity: count)
        for _ in 0..<count {
            guard insert(try Element(readingJournalField: &reader, named: field)).inserted else {
                throw reader.error("\(field): an element twice in a set")
            }
        }
    }
}

extension Dictionary: JournalField where Key: JournalField, Value: JournalField {
    /// The count, then key and value pairs in the order of the keys' bytes
    /// (the same dictionary writes the same bytes in every process, as a set).
    public func writeJournalField(to writer: inout ByteWriter) {
        writer.varint(UInt64(count))
        guard count > 1 else {
            for (key, value) in self {
                key.writeJournalField(to: &writer)
                value.writeJournalField(to: &writer)
            }
            return
        }
        var entries: [(key: [UInt8], value: Value)] = []
        entries.reserveCapacity(count)
        for (key, value) in self {
            var keyWriter = ByteWriter()
            key.writeJournalField(to: &keyWriter)
            entries.append((keyWriter.bytes, value))
        }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        for entry in entries {
            writer.rest(entry.key)
            entry.value.writeJournalField(to: &writer)
        }
    }
    /// Reads the count and the pairs; a key twice is an error.
    public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        let count = try reader.journalElementCount(field)
        self.init(minimumCapacity: count)
        for _ in 0..<count {
            let key = try Key(readingJournalField: &reader, named: field)
            let value = try Value(readingJournalField: &reader, named: field)
            guard updateValue(value, forKey: key) == nil else { throw reader.error("\(field): a key twice in a dictionary") }
        }
    }
}

/// The one order of a set's elements that every process agrees on.
enum JournalOrdering {
    /// Each element's bytes, sorted.
    static func sortedEncodings<S: Sequence>(of elements: S) -> [[UInt8]] where S.Element: JournalField {
        elements.map { element in
            var writer = ByteWriter()
            element.writeJournalField(to: &writer)
            return writer.bytes
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

extension ByteReader {
    /// `value` as a narrower integer, or an error naming `field` when it does not fit.
    @inlinable public func fitting<Wide: BinaryInteger, Narrow: FixedWidthInteger>(_ value: Wide, _ field: String) throws(LogRecordError) -> Narrow {
        guard let narrow = Narrow(exactly: value) else { throw error("\(field): \(value) does not fit in \(Narrow.self)") }
        return narrow
    }
}
