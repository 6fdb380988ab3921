import Calf
import Testing

// Types coded by `@JournalCoded`, one per shape the macro takes.

@JournalCoded
struct Reading: Codable, Sendable, Equatable {
    var sensor: String
    var value: Double
    var flags: UInt8
    var small: Int16
    var wide: UInt64
    var ratio: Float
    var ok: Bool
    var taken: Duration
}

@JournalCoded
enum Command: Codable, Sendable, Equatable {
    case start(job: String, priority: Int)
    case move(Int, Int)
    case tag(_ name: String, note: String?)
    case batch([Reading])
    case stop
}

@JournalCoded
indirect enum Expression: Codable, Sendable, Equatable {
    case number(Int)
    case sum(Expression, Expression)
    case named([String: Expression])
}

@JournalCoded
struct Inventory: Codable, Sendable, Equatable {
    var counts: [String: Int]
    var tags: Set<String>
    var history: [[Int]]
    var lastCommand: Command?
    var pending: [Command]
    var nested: Outer.Inner
}

enum Outer {
    @JournalCoded
    struct Inner: Codable, Sendable, Equatable {
        var depth: Int
        var kind: Kind

        @JournalCoded
        enum Kind: String, Codable, Sendable, Equatable { case leaf, branch }
    }
}

@JournalCoded
struct Box<Content: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    var content: Content
    var label: String
}

/// A record type as first deployed...
@JournalCoded
struct ProfileV1: Codable, Equatable {
    var name: String
    var age: Int
}

/// ...and after two properties were added at the end, one optional and one with a default.
@JournalCoded
struct ProfileV2: Codable, Equatable {
    var name: String
    var age: Int
    var email: String?
    var visits = 7
}

/// ...and after one was added with neither (old records cannot be read into it).
@JournalCoded
struct ProfileV3: Codable, Equatable {
    var name: String
    var age: Int
    var country: String
}

@JournalCoded
enum EventV1: Codable, Equatable {
    case opened(id: Int)
}

@JournalCoded
enum EventV2: Codable, Equatable {
    case opened(id: Int, by: String? = nil, attempt: Int = 1)
    case closed
}

@Suite struct JournalCodedTests {
    func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let codec = JournalCodec<T>()
        #expect(codec.isFast, "the macro made \(T.self) JournalCodable", sourceLocation: sourceLocation)
        let bytes = try codec.encode(value)
        #expect(bytes.first == JournalCodec<T>.marker, sourceLocation: sourceLocation)
        #expect(try codec.decode(from: bytes) == value, sourceLocation: sourceLocation)
        // Every cut short record is an error, never a trap or a wrong value.
        for length in 1..<bytes.count {
            #expect(throws: (any Error).self, "cut to \(length) of \(bytes.count) bytes", sourceLocation: sourceLocation) {
                try codec.decode(from: Array(bytes[..<length]))
            }
        }
    }

    let reading = Reading(sensor: "t-1", value: -3.25, flags: 0xA5, small: -300, wide: .max, ratio: 0.5, ok: true,
                          taken: .seconds(3) + .milliseconds(7))

    @Test func structsOfEveryScalarComeBackEqual() throws {
        try roundTrip(reading)
        try roundTrip(Reading(sensor: "", value: .infinity, flags: 0, small: .min, wide: 0, ratio: -.greatestFiniteMagnitude, ok: false, taken: .zero))
    }

    @Test func enumsWithLabeledUnlabeledOptionalAndNoAssociatedValuesComeBackEqual() throws {
        for command in [Command.start(job: "build", priority: -2), .move(3, -4), .tag("x", note: nil), .tag("y", note: "why"),
                        .batch([reading, reading]), .batch([]), .stop] {
            try roundTrip(command)
        }
    }

    @Test func recursiveEnumsNestedCollectionsNestedTypesAndGenericsComeBackEqual() throws {
        try roundTrip(Expression.sum(.number(1), .named(["a": .number(2), "b": .sum(.number(3), .number(4))])))
        let inventory = Inventory(
            counts: ["apples": 3, "pears": 0, "plums": -1], tags: ["red", "ripe", "sale"], history: [[1, 2], [], [3]],
            lastCommand: .move(1, 2), pending: [.stop, .start(job: "j", priority: 0)],
            nested: Outer.Inner(depth: 2, kind: .branch))
        try roundTrip(inventory)
        try roundTrip(Inventory(counts: [:], tags: [], history: [], lastCommand: nil, pending: [],
                                nested: Outer.Inner(depth: 0, kind: .leaf)))
        try roundTrip(Box(content: [reading], label: "readings"))
        try roundTrip(Box(content: Optional<Int>.none, label: ""))
    }

    @Test func aDictionaryAndASetWriteTheSameBytesWhateverTheirInsertionOrder() throws {
        let keys = (0..<200).map { "key-\($0)" }
        var forward: [String: Int] = [:]
        for (index, key) in keys.enumerated() { forward[key] = index }
        var backward: [String: Int] = [:]
        for (index, key) in keys.enumerated().reversed() { backward[key] = index }
        // Same contents, grown differently: their iteration orders differ (the check that this test can fail).
        var grown = [String: Int](minimumCapacity: 4096)
        for (index, key) in keys.enumerated() { grown[key] = index }
        #expect(Array(grown.keys) != Array(forward.keys) || Array(backward.keys) != Array(forward.keys))
        func bytes<T: JournalField>(_ value: T) -> [UInt8] {
            var writer = ByteWriter()
            writer.journalField(value)
            return writer.bytes
        }
        #expect(bytes(forward) == bytes(backward))
        #expect(bytes(forward) == bytes(grown))
        #expect(bytes(Set(keys)) == bytes(Set(keys.reversed())))
        #expect(bytes(Set(keys)) == bytes(Set<String>(minimumCapacity: 4096).union(keys)))
    }

    @Test func recordsWrittenThroughCodableBeforeTheMacroStillDecode() throws {
        // The bytes BinaryEncoder wrote for these types before they were
        // @JournalCoded (Codable is what JournalCodec used then).
        let command = Command.tag("old", note: "from Codable")
        let old = try BinaryEncoder().encode(command)
        #expect(old.first != JournalCodec<Command>.marker)
        #expect(try JournalCodec<Command>().decode(from: old) == command)
        let inventory = Inventory(counts: ["a": 1], tags: ["t"], history: [[9]], lastCommand: .stop, pending: [],
                                  nested: Outer.Inner(depth: 1, kind: .leaf))
        #expect(try JournalCodec<Inventory>().decode(from: try BinaryEncoder().encode(inventory)) == inventory)
    }

    @Test func aRecordWrittenBeforePropertiesWereAddedReadsThemAsNilOrTheirDefault() throws {
        let old = try JournalCodec<ProfileV1>().encode(ProfileV1(name: "Ada", age: 36))
        #expect(try JournalCodec<ProfileV2>().decode(from: old) == ProfileV2(name: "Ada", age: 36, email: nil, visits: 7))
        let error = try #require(throws: (any Error).self) { try JournalCodec<ProfileV3>().decode(from: old) }
        #expect("\(error)".contains("ProfileV3.country"), "the error names the property: \(error)")
        // A record from the newer type, read by the older one: refused, and said why.
        let newer = try JournalCodec<ProfileV2>().encode(ProfileV2(name: "Bo", age: 5, email: "b@x", visits: 1))
        let refusal = try #require(throws: (any Error).self) { try JournalCodec<ProfileV1>().decode(from: newer) }
        #expect("\(refusal)".contains("newer version"), "\(refusal)")
    }

    @Test func aCaseWrittenBeforeAssociatedValuesWereAddedReadsThemAsNilOrTheirDefault() throws {
        let old = try JournalCodec<EventV1>().encode(.opened(id: 42))
        #expect(try JournalCodec<EventV2>().decode(from: old) == .opened(id: 42, by: nil, attempt: 1))
        let closed = try JournalCodec<EventV2>().encode(.closed)
        let refusal = try #require(throws: (any Error).self) { try JournalCodec<EventV1>().decode(from: closed) }
        #expect("\(refusal)".contains("no case 1"), "\(refusal)")
    }

    @Test func damagedBytesAreErrorsNeverTraps() throws {
        let codec = JournalCodec<Inventory>()
        let good = try codec.encode(Inventory(counts: ["a": 1, "b": 2], tags: ["x", "y"], history: [[1]], lastCommand: .move(1, 1),
                                              pending: [.batch([reading])], nested: Outer.Inner(depth: 1, kind: .leaf)))
        var generator = SystemRandomNumberGenerator()
        var errors = 0
        for _ in 0..<2000 {
            var damaged = good
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                damaged[Int.random(in: 1..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            do { _ = try codec.decode(from: damaged) } catch { errors += 1 }
        }
        #expect(errors > 0)
        // A count far beyond the bytes left is refused before anything is allocated for it.
        var huge = ByteWriter()
        huge.byte(JournalCodec<Box<[Int]>>.marker)
        huge.varint(2)
        huge.varint(UInt64(Int.max))
        let refusal = try #require(throws: (any Error).self) { try JournalCodec<Box<[Int]>>().decode(from: huge.bytes) }
        #expect("\(refusal)".contains("elements in 0 bytes"), "\(refusal)")
    }
}
