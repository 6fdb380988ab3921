import Calf

/// HTTP's `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an
/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). Written by hand: it is
/// two small formats, and Foundation's date parsing is not in
/// FoundationEssentials.
enum RetryAfter {
    /// The wait `value` asks for, from `now`; nil if it is neither form.
    static func parse(_ value: String, now: WallTime) -> Duration? {
        let value = String(value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        guard let date = imfFixdate(value) else { return nil }
        return date > now ? date - now : .zero
    }

    /// "Sun, 06 Nov 1994 08:49:37 GMT" as a time.
    static func imfFixdate(_ text: String) -> WallTime? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", parts[0].hasSuffix(","),
              let day = Int(parts[1]), (1...31).contains(day),
              let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), year >= 1970 else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let days = daysFromEpoch(year: year, month: month + 1, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return WallTime(nanosecondsSinceEpoch: UInt64(seconds) * 1_000_000_000)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    private static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
