import CLMDB
import Testing
@testable import CalfStore

@Suite(.timeLimit(.minutes(2))) struct JournalTests {
    let sample: [LogRecord] = [
        .accepted(.init(to: 7, key: "transfer-42", acceptedAt: 1_700_000_000_000_000_000, payload: [1, 2, 3])),
        .accepted(.init(to: 8, acceptedAt: 5, payload: [])),
        .progress(pid: 7, handled: [.init(seq: 1, digest: 0xdead_beef_cafe_f00d), .init(seq: 300, digest: 2)]),
        .lifecycle(pid: 9, event: .spawned, detail: Array("Account".utf8)),
    ]

    @Test func recordsRoundTripThroughTheirBytes() throws {
        for record in sample {
            let bytes = record.encoded()
            let decoded = try bytes.withUnsafeBytes { buffer throws -> LogRecord in try LogRecord(decoding: buffer) }
            #expect(decoded == record)
        }
    }

    /// Today's record layout, byte for byte: logs already written are read by it.
    @Test func recordsHaveTheLayoutLogsWereWrittenIn() throws {
        let expected = [
            "01078080a8b1e39fe7cb170c7472616e736665722d3432010203",
            "01080500",
            "020702010df0fecaefbeaddeac020200000000000000",
            "0309014163636f756e74",
        ]
        #expect(sample.map { $0.encoded().map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() } == expected)
        // And the checksum stored after the first one under seq 1.
        #expect(Checksum.crc32c(sample[0].encoded(), continuing: Checksum.crc32c(StoreKey(1).bytes)) == Checksum.crc32c(StoreKey(1).bytes + sample[0].encoded()))
    }

    @Test func appendsGetConsecutiveSeqsThatSurviveReopening() throws {
        try withTemporaryDirectory { dir in
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                #expect(journal.lastSeq == 0)
                #expect(try journal.append(Array(sample[0..<2])) == 1...2)
                #expect(try journal.append(Array(sample[2...])) == 3...4)
                #expect(journal.lastSeq == 4)
            }
            let reopened = try Journal(environment: StoreEnvironment(path: dir))
            #expect(reopened.lastSeq == 4)
            var seen: [(UInt64, LogRecord)] = []
            try reopened.scan(from: 2) { seq, record in
                seen.append((seq, try record.get()))
                return true
            }
            #expect(seen.map(\.0) == [2, 3, 4])
            #expect(seen.map(\.1) == Array(sample[1...]))
            #expect(try reopened.record(at: 1) == sample[0])
            #expect(try reopened.record(at: 99) == nil)
            #expect(try reopened.append([sample[0]]) == 5...5)
        }
    }

    @Test func aCorruptRecordIsReportedAndTheScanGoesOn() throws {
        try withTemporaryDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            try journal.append(sample)
            // Overwrite record 2 with garbage, as a torn or foreign write would leave it.
            try journal.environment.write { txn in try txn.put(journal.log, key: StoreKey(2), value: [1, 0xff]) }
            var good: [UInt64] = []
            var bad: [LogRecordError] = []
            try journal.scan(from: 1) { seq, record in
                switch record {
                case .success: good.append(seq)
                case .failure(let error): bad.append(error)
                }
                return true
            }
            #expect(good == [1, 3, 4])
            #expect(bad.count == 1)
            #expect(bad.first?.seq == 2)
            #expect(bad.first?.description.contains("log record 2 is corrupt") == true)
        }
    }

    @Test func oldRecordsCanBeDroppedAndSeqsKeepGrowing() throws {
        try withTemporaryDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            try journal.append(sample)
            #expect(try journal.dropRecords(before: 3) == 2)
            #expect(try journal.record(at: 2) == nil)
            #expect(try journal.record(at: 3) == sample[2])
            #expect(try journal.append([sample[1]]) == 5...5)
            // Dropping everything keeps the last record, so a reopened log goes on from its end.
            #expect(try journal.dropRecords(before: 100) == 2)
            #expect(try journal.record(at: 5) == sample[1])
            journal.environment.close()
            let reopened = try Journal(environment: StoreEnvironment(path: dir))
            #expect(reopened.lastSeq == 5)
            #expect(try reopened.append([sample[0]]) == 6...6)
        }
    }

    @Test func aGroupCommitLargerThanTheMapStillLandsWithConsecutiveSeqs() throws {
        try withTemporaryDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir, mapSize: 64 << 10))
            let records = (0..<5_000).map { LogRecord.accepted(.init(to: UInt64($0), acceptedAt: 1, payload: [UInt8](repeating: 7, count: 64))) }
            #expect(try journal.append(records) == 1...5_000)
            #expect(journal.environment.mapGrowths > 0)
            var count = 0
            var expected: UInt64 = 1
            try journal.scan(from: 0) { seq, record in
                #expect(seq == expected)
                let pid = try record.get().pid
                #expect(pid == seq - 1)
                expected += 1
                count += 1
                return true
            }
            #expect(count == 5_000)
        }
    }
}
