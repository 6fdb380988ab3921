import Testing
@testable import CalfStore

/// A message that writes itself (the fast path).
enum Move: Codable, Equatable, JournalCodable {
    case step(dx: Int, dy: Int)
    case rename(String)
    case halt(Bool, speed: Double)

    func write(to writer: inout ByteWriter) {
        switch self {
        case .step(let dx, let dy):
            writer.byte(0)
            writer.int(dx)
            writer.int(dy)
        case .rename(let name):
            writer.byte(1)
            writer.string(name)
        case .halt(let hard, let speed):
            writer.byte(2)
            writer.bool(hard)
            writer.double(speed)
        }
    }

    init(reading reader: inout ByteReader) throws {
        switch try reader.byte("case") {
        case 0: self = .step(dx: try reader.int("dx"), dy: try reader.int("dy"))
        case 1: self = .rename(try reader.string("name"))
        case 2: self = .halt(try reader.bool("hard"), speed: try reader.double("speed"))
        case let other: throw reader.error("unknown case \(other)")
        }
    }
}

/// The same shape without the conformance: how `Move` was journaled before it had one.
enum PlainMove: Codable, Equatable {
    case step(dx: Int, dy: Int)
    case rename(String)
    case halt(Bool, speed: Double)
}

@Suite(.timeLimit(.minutes(2))) struct JournalCodableTests {
    @Test func aConformingTypeTakesTheFastPathAndRoundTrips() throws {
        let codec = JournalCodec<Move>()
        #expect(codec.isFast)
        #expect(!JournalCodec<PlainMove>().isFast)
        for move in [Move.step(dx: -3, dy: Int.max), .rename("Grüße 🐄"), .halt(true, speed: -0.25), .step(dx: .min, dy: 0)] {
            let bytes = try codec.encode(move)
            #expect(bytes.first == JournalCodec<Move>.marker)
            #expect(try codec.decode(from: bytes) == move)
        }
        // Small fields stay small: marker, tag, two one-byte varints.
        #expect(try codec.encode(.step(dx: 1, dy: -1)).count == 4)
        // Appending keeps what was there.
        var record: [UInt8] = [9, 9]
        try codec.encode(.rename("x"), appendingTo: &record)
        #expect(record == [9, 9, JournalCodec<Move>.marker, 1, 1, UInt8(ascii: "x")])
    }

    @Test func recordsWrittenThroughCodableStillDecodeOnceTheTypeConforms() throws {
        let old = try JournalCodec<PlainMove>().encode(.halt(false, speed: 2.5))
        #expect(old.first == BinaryFormat.version)
        #expect(try JournalCodec<Move>().decode(from: old) == .halt(false, speed: 2.5))
    }

    @Test func badBytesAreClearErrorsNotCrashes() throws {
        let codec = JournalCodec<Move>()
        let good = try codec.encode(.step(dx: 300, dy: 5))
        // Truncated anywhere.
        for end in 1..<good.count {
            #expect(throws: (any Error).self) { try codec.decode(from: Array(good[..<end])) }
        }
        // Trailing bytes, an unknown case, a bad flag, text that is not UTF-8.
        let trailing = #expect(throws: BinaryDecodingError.self) { try codec.decode(from: good + [0]) }
        #expect(trailing?.reason.contains("1 bytes after the value of Move") == true)
        let unknown = #expect(throws: LogRecordError.self) { try codec.decode(from: [JournalCodec<Move>.marker, 7]) }
        #expect(unknown?.reason.contains("unknown case 7") == true)
        #expect(throws: LogRecordError.self) { try codec.decode(from: [JournalCodec<Move>.marker, 2, 5]) }
        #expect(throws: LogRecordError.self) { try codec.decode(from: [JournalCodec<Move>.marker, 1, 2, 0xff, 0xfe]) }
        // A record written through the conformance, read by a build whose type lost it.
        let lost = #expect(throws: BinaryDecodingError.self) { try JournalCodec<PlainMove>().decode(from: good) }
        #expect(lost?.reason.contains("no longer has") == true)
    }
}
