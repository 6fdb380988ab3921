import CLMDB
import Testing
@testable import CalfStore

/// CRC-32C on what the journal stores: known values, the instruction and
/// the table agreeing, every read path checking, and data of format 1
/// (no checksums) still opening.
@Suite(.timeLimit(.minutes(2))) struct ChecksumTests {
    let sample: [LogRecord] = [
        .accepted(.init(to: 7, key: "transfer-42", acceptedAt: 1_700_000_000_000_000_000, payload: [1, 2, 3, 4, 5, 6, 7, 8, 9])),
        .accepted(.init(to: 8, acceptedAt: 5, payload: [42])),
        .progress(pid: 7, handled: [.init(seq: 1, digest: 0xdead_beef_cafe_f00d)]),
    ]

    @Test func crc32cHasItsKnownValues() {
        // The check value of CRC-32C (RFC 3720's iSCSI polynomial), and two of RFC 3720's vectors.
        #expect(Checksum.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        #expect(Checksum.crc32c([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(Checksum.crc32c([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(Checksum.crc32c([]) == 0)
        // Continuing equals one pass.
        let bytes = Array("hello, journal".utf8)
        #expect(Checksum.crc32c(Array(bytes[5...]), continuing: Checksum.crc32c(Array(bytes[..<5]))) == Checksum.crc32c(bytes))
    }

    @Test func theInstructionAndTheTableAgreeOnEveryLengthAndAlignment() {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        let pool = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in 0..<200 {
            for start in 0..<9 {
                let slice = Array(pool[start..<(start + length)])
                #expect(Checksum.crc32c(slice) == Checksum.crc32cByTable(slice), "length \(length), offset \(start)")
            }
        }
        let long = Array(pool)
        #expect(Checksum.crc32c(long) == Checksum.crc32cByTable(long))
    }

    @Test func aFlippedBitFailsEveryReadOfTheRecordAndNamesItsSeqAndPid() throws {
        try withTemporaryDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            #expect(journal.checksumsFrom == 1 && journal.checksummedValues)
            try journal.append(sample)
            let log = journal.log
            // One bit of the payload of record 1, the stored checksum left as it was.
            var stored = try journal.environment.read { txn in Array(try #require(try txn.get(log, key: StoreKey(1)))) }
            #expect(stored.count == sample[0].encoded().count + Checksum.size)
            stored[stored.count - Checksum.size - 2] ^= 0x10
            let corrupt = stored
            try journal.environment.write { txn in try txn.put(log, key: StoreKey(1), value: corrupt) }

            var failures: [LogRecordError] = []
            var good: [UInt64] = []
            try journal.scan(from: 1) { seq, record in
                switch record {
                case .success: good.append(seq)
                case .failure(let error): failures.append(error)
                }
                return true
            }
            #expect(good == [2, 3])
            #expect(failures.count == 1)
            #expect(failures.first?.seq == 1 && failures.first?.pid == 7)
            #expect(failures.first?.description.contains("checksum mismatch") == true, "\(failures)")
            #expect(throws: LogRecordError.self) { try journal.record(at: 1) }
            #expect(throws: LogRecordError.self) { try journal.records(at: [2, 1]) }
            #expect(throws: LogRecordError.self) { try journal.withRecordBytes(at: 1) { _ in } }
            #expect(try journal.record(at: 2) == sample[1])
            // A record moved under another seq fails too: the checksum covers the key.
            let moved = try journal.environment.read { txn in Array(try #require(try txn.get(log, key: StoreKey(2)))) }
            try journal.environment.write { txn in try txn.put(log, key: StoreKey(3), value: moved) }
            #expect(throws: LogRecordError.self) { try journal.record(at: 3) }
        }
    }

    @Test func snapshotsAndLedgerValuesAreCheckedToo() throws {
        try withTemporaryDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            let database = journal.checkpoints
            try journal.environment.write { txn in try journal.putChecked(txn, database, key: StoreKey(9), value: [1, 2, 3, 4]) }
            let read = try journal.environment.read { txn in try journal.checkedValue(txn, database, key: StoreKey(9)).map(Array.init) }
            #expect(read == [1, 2, 3, 4])
            try journal.environment.write { txn in try txn.put(database, key: StoreKey(9), value: [1, 2, 3, 5, 0, 0, 0, 0]) }
            #expect(throws: StoredValueError.self) {
                try journal.environment.read { txn in _ = try journal.checkedValue(txn, database, key: StoreKey(9)) }
            }
            try journal.environment.write { txn in try txn.put(database, key: StoreKey(9), value: [1]) }
            #expect(throws: StoredValueError.self) {
                try journal.environment.read { txn in _ = try journal.checkedValue(txn, database, key: StoreKey(9)) }
            }
        }
    }

    @Test func dataOfFormat1OpensItsRecordsReadAsTheyAreAndNewOnesAreChecksummed() throws {
        try withTemporaryDirectory { dir in
            // What a build before checksums left: records and a snapshot as they were, no format in `meta`.
            do {
                let environment = try StoreEnvironment(path: dir)
                let log = try environment.database("log")
                let checkpoints = try environment.database("checkpoints")
                for name in ["names", "timers", "dead", "meta", "keys", "ledgers"] { _ = try environment.database(name) }
                try environment.write { txn in
                    for (index, record) in sample.enumerated() {
                        try txn.put(log, key: StoreKey(UInt64(index + 1)), value: record.encoded(), append: true)
                    }
                    try txn.put(checkpoints, key: StoreKey(7), value: [9, 9, 9])
                }
                environment.close()
            }
            // Read-only (the offline journal): nothing changes, nothing is checked.
            do {
                let environment = try StoreEnvironment(path: dir, readOnly: true)
                let journal = try Journal(environment: environment)
                #expect(journal.checksumsFrom == .max && !journal.checksummedValues)
                #expect(try journal.record(at: 1) == sample[0])
                environment.close()
            }
            // Read-write: upgraded once.
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                #expect(journal.checksumsFrom == 4 && journal.checksummedValues)
                for (index, record) in sample.enumerated() { #expect(try journal.record(at: UInt64(index + 1)) == record) }
                let snapshot = try journal.environment.read { txn in try journal.checkedValue(txn, journal.checkpoints, key: StoreKey(7)).map(Array.init) }
                #expect(snapshot == [9, 9, 9])
                try journal.append([sample[1]])
                let log = journal.log
                let stored = try journal.environment.read { txn in Array(try #require(try txn.get(log, key: StoreKey(4)))) }
                #expect(stored.count == sample[1].encoded().count + Checksum.size)
                #expect(try journal.record(at: 4) == sample[1])
                journal.environment.close()
            }
            let reopened = try Journal(environment: StoreEnvironment(path: dir))
            #expect(reopened.checksumsFrom == 4)
            #expect(try reopened.record(at: 2) == sample[1] && reopened.record(at: 4) == sample[1])
        }
    }

    @Test func dataOfANewerFormatIsRefusedWithAClearError() throws {
        try withTemporaryDirectory { dir in
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                let meta = journal.meta
                try journal.environment.write { txn in try txn.put(meta, key: Journal.formatKey, value: StoreKey(99).bytes) }
                journal.environment.close()
            }
            do {
                _ = try Journal(environment: StoreEnvironment(path: dir))
                Issue.record("a journal of format 99 opened")
            } catch let error as StoreError {
                #expect(error.description.contains("format 99, newer than this build reads (2)"), "\(error)")
            }
        }
    }
}

/// A small reproducible generator (splitmix64) for test data and the fuzz tests (a seed replays a run).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
