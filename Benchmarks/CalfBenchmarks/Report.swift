import Foundation

/// Prints figures as text or JSON lines.
public struct Report: Sendable {
    /// Print JSON lines instead of text.
    public let json: Bool

    /// Makes a report printing text, or JSON lines with `json`.
    public init(json: Bool) { self.json = json }

    /// Prints one figure.
    public func figure(_ name: String, _ value: Double, _ unit: String, note: String = "") {
        if json {
            let object: [String: Any] = ["name": name, "value": (value * 100).rounded() / 100, "unit": unit]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
               let line = String(data: data, encoding: .utf8) {
                print(line)
            }
        } else {
            let shown = value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
            print("\(name): \(shown) \(unit)\(note.isEmpty ? "" : "  (\(note))")")
        }
    }
}

/// Seconds on the monotonic clock.
public func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// The process's resident memory, from `/proc/self/status`: all of it, and
/// the anonymous part (the heap and stacks; not the pages of mapped files,
/// such as the journal's, which the kernel may drop and read again).
public struct MemoryUse {
    /// All resident bytes.
    public var resident: Int
    /// Anonymous resident bytes (`RssAnon`).
    public var anonymous: Int

    /// Now (zero where the system does not say).
    public static func now() -> MemoryUse {
        var use = MemoryUse(resident: residentBytes(), anonymous: 0)
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return use }
        for line in text.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            let digits = line.dropFirst("RssAnon:".count).filter(\.isNumber)
            use.anonymous = (Int(digits) ?? 0) * 1024
        }
        return use
    }
}

/// Resident set size of this OS process, in bytes.
public func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
