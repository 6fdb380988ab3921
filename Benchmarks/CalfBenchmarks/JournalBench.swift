import CalfStore
import Foundation

/// Group commits to the global log through CalfStore (the ceiling the
/// durable runtime works under): records per second at each durability
/// level, commits of `batch` records, then a full scan.
public enum JournalBench {
    /// Appends `records` accepted-message records of 40-byte payloads in commits of `batch`.
    public static func run(records: Int, batch: Int, report: Report) throws {
        for durability in StoreEnvironment.Durability.allCases {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-journal-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let journal = try Journal(environment: StoreEnvironment(path: dir.path, mapSize: 1 << 30, durability: durability))
            let payload = [UInt8](repeating: 0x5a, count: 40)
            var written = 0
            let start = now()
            while written < records {
                let count = min(batch, records - written)
                let encoded = (0..<count).map { i in
                    LogRecord.accepted(.init(to: UInt64((written + i) % 10_000), acceptedAt: UInt64(written + i), payload: payload)).encoded()
                }
                try journal.append(encoded: encoded)
                written += count
            }
            let elapsed = now() - start
            report.figure("journal_append_\(durability.rawValue)", Double(records) / elapsed, "records/s",
                          note: "commits of \(batch)")
            if durability == .process {
                var scanned = 0
                let scanStart = now()
                try journal.scan(from: 1) { _, record in
                    if case .success = record { scanned += 1 }
                    return true
                }
                report.figure("journal_scan", Double(scanned) / (now() - scanStart), "records/s", note: "decoded, checksums checked")
            }
        }
        checksumCost(report: report)
    }

    /// What a record's checksum costs: CRC-32C of a log key and a record
    /// of the size written above (about 50 bytes), by the CPU instruction
    /// and by the table.
    static func checksumCost(report: Report) {
        let record = LogRecord.accepted(.init(to: 4_242, acceptedAt: 1_700_000_000_000_000_000, payload: [UInt8](repeating: 0x5a, count: 40))).encoded()
        let key = StoreKey(123_456).bytes
        let rounds = 5_000_000
        var sink: UInt32 = 0
        var start = now()
        key.withUnsafeBytes { key in
            record.withUnsafeBytes { record in
                for round in 0..<rounds {
                    sink &+= Checksum.of(key: key, value: UnsafeRawBufferPointer(rebasing: record[(round & 1)...]))
                }
            }
        }
        let hardware = (now() - start) / Double(rounds) * 1e9
        start = now()
        for round in 0..<rounds / 5 {
            sink &+= Checksum.crc32cByTable(record, continuing: Checksum.crc32cByTable(key) &+ UInt32(truncatingIfNeeded: round))
        }
        let table = (now() - start) / Double(rounds / 5) * 1e9
        report.figure("checksum_record", hardware, "ns", note: "CRC-32C of a log key and a \(record.count)-byte record, \(Checksum.isHardware ? "CPU instruction" : "table") (checksum \(sink % 10))")
        report.figure("checksum_record_table", table, "ns", note: "the same by the table alone")
    }
}
