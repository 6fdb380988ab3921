import CalfControl
import Foundation
import Testing

/// The hand-written JSON writer and parser against Foundation's encoder and
/// decoder: the same bytes out, the same values in, clear errors on bad text.
@Suite("JSON writer and parser", .timeLimit(.minutes(1)))
struct JSONCodingTests {
    /// Strings a name or a status could hold: quotes, backslashes, every control character, slashes, non-ASCII.
    static let awkward: [String] = [
        "", "plain", "with \"quotes\" and \\ backslash", "a/b//c", "tab\there\nnewline\r\u{8}\u{c}",
        String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }), "\u{7f} del", "é ü 中文 🚀", "\u{2028}\u{2029}",
    ]

    private func report(_ n: Int, name: String?) -> ProcessReport {
        ProcessReport(pid: "<0.\(n)>", name: name, behavior: Self.awkward[n % Self.awkward.count], scheduler: n % 3, status: "waiting",
                      mailbox: n * 7, handled: UInt64(n) * 1_000_000_007, restarts: UInt64(n % 5), memory: -n,
                      durable: n % 2 == 0, trapsExits: n % 3 == 0, links: Self.awkward.prefix(n % 4).map { $0 },
                      monitoredBy: n % 2 == 0 ? [] : ["<0.1>"], quarantine: n % 5 == 0 ? "why: \(Self.awkward[n % Self.awkward.count])" : nil,
                      mailboxLimit: n % 4 == 1 ? n * 100 : nil, backlog: n % 4 == 1 ? n : nil, refused: n % 4 == 1 ? UInt64(n) << 40 : nil)
    }

    @Test("a report written by hand is byte for byte what the encoder writes, and reads back the same both ways")
    func reportsMatchTheEncoder() throws {
        let reports = (0..<40).map { report($0, name: $0 % 3 == 0 ? nil : Self.awkward[$0 % Self.awkward.count]) }
        var writer = JSONWriter()
        reports.write(to: &writer)
        #expect(writer.bytes == (try ControlProtocol.encode(reports)))
        #expect(try [ProcessReport](parsing: writer.bytes) == reports)
        #expect(try JSONDecoder().decode([ProcessReport].self, from: Data(writer.bytes)) == reports)
        // A whole reply: the hand-written envelope equals the encoder's.
        let frame = EncodedReply.success(reports).frame
        struct Envelope: Encodable { var ok = true; var result: [ProcessReport]; var v = 2 }
        #expect(Array(frame.dropFirst(4)) == (try ControlProtocol.encode(Envelope(result: reports))))
        #expect(try ControlReply<[ProcessReport]>.read(Array(frame.dropFirst(4))) == .success(reports))
    }

    @Test("a send's answer written by hand is what the encoder writes, with and without its seq")
    func sendAnswersMatchTheEncoder() throws {
        for answer in [SendAnswer(seq: 7, duplicate: false), SendAnswer(seq: .max, duplicate: true), SendAnswer(seq: nil, duplicate: false)] {
            var writer = JSONWriter()
            answer.write(to: &writer)
            struct Coded: Encodable { var seq: UInt64?; var duplicate: Bool }
            #expect(writer.bytes == (try ControlProtocol.encode(Coded(seq: answer.seq, duplicate: answer.duplicate))), "\(answer)")
            #expect(try ControlReply<SendAnswer>.read(Array(EncodedReply.success(answer).frame.dropFirst(4))) == .success(answer))
        }
    }

    @Test("values written by hand are what the encoder writes")
    func valuesMatchTheEncoder() throws {
        let values: [JSONValue] = [
            nil, true, false, 0, -1, .integer(.max), .integer(.min), .unsigned(.max), .double(2.5), .double(-0.001), .double(1e300),
            .double(123_456_789.25), .array([]), .object([:]),
            .object(Dictionary(uniqueKeysWithValues: Self.awkward.enumerated().map { ($1, .integer(Int64($0))) })),
        ] + Self.awkward.map(JSONValue.string)
        for value in values {
            #expect(value.bytes == (try ControlProtocol.encode(value)), "\(value)")
            #expect(try JSONValue(parsing: value.bytes) == value, "\(value)")
        }
    }

    @Test("the parser reads what the decoder reads, escapes and numbers included")
    func parserMatchesTheDecoder() throws {
        let texts = [
            #"{"a":[1,-2,2.5,-0.5e-3,1.5E+2,true,false,null,"s"],"b":{"c":{}},"d":[]}"#,
            #"  [ "\u00e9\ud83d\ude80\n\t\"\\\/" , 18446744073709551615 , -9223372036854775808 ]  "#,
            #""just a string""#, "42", "0.0", "1e400x",
        ]
        for text in texts.dropLast() {
            let mine = try JSONValue(parsing: text)
            let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(mine == theirs, "\(text)")
        }
        #expect(try JSONValue(parsing: #"["\ud83d\ude80"]"#) == ["🚀"])
        #expect(try JSONValue(parsing: "18446744073709551616") == .double(18446744073709551616))
        #expect(try JSONValue(parsing: "1E+2") == .integer(100) && JSONValue(parsing: "-0") == .integer(0))
    }

    @Test("bad text is an error naming what is wrong and where, never a crash")
    func badText() {
        let bad: [(String, String)] = [
            ("", "unexpected end"), ("{", "expected a key"), (#"{"a" 1}"#, "expected ':'"), (#"{"a":1,}"#, "expected a key"),
            ("[1,]", "unexpected character"), ("[1 2]", "expected ',' or ']'"), ("tru", "unexpected end"), ("nul!", "unexpected character"),
            ("01", "unexpected text after the value"), ("-", "a number without digits"), ("1.", "a number without digits"),
            ("1e", "a number without digits"), ("1e999", "a number out of range"), ("\"a\u{1}b\"", "a control character"),
            (#""\x""#, "an unknown escape"), (#""\u12zz""#, "a bad \\u escape"), (#""\u12""#, "unexpected end"), (#""\ud800""#, "a lone surrogate"),
            (#""\udc00""#, "a lone surrogate"), (#""abc"#, "an unterminated string"), ("{} {}", "unexpected text after the value"),
            (String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "nested deeper than 512"),
        ]
        for (text, expected) in bad {
            do {
                let value = try JSONValue(parsing: text)
                Issue.record("\(text) parsed as \(value)")
            } catch {
                #expect(error.description.contains(expected), "\(text): \(error)")
            }
        }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: [0x22, 0xff, 0x22]) }
    }

    @Test("a report missing members, or with one of the wrong kind, is refused naming it")
    func badReports() {
        #expect(throws: JSONValue.ParseError.self) { try ProcessReport(parsing: Array(#"{"pid":"<0.1>"}"#.utf8)) }
        do {
            _ = try ProcessReport(parsing: Array(#"{"pid":"<0.1>","behavior":"B"}"#.utf8))
        } catch {
            #expect(error.description.contains("a process report without scheduler, status, mailbox"), "\(error)")
        }
        #expect(throws: JSONValue.ParseError.self) { try [ProcessReport](parsing: Array(#"[{"pid":1}]"#.utf8)) }
        #expect(throws: (any Error).self) { try ControlReply<[ProcessReport]>.read(Array(#"{"ok":true,"v":2}"#.utf8)) }
        #expect(throws: (any Error).self) { try ControlReply<[ProcessReport]>.read(Array(#"{"ok":true,"result":[],"v":1}"#.utf8)) }
        #expect((try? ControlReply<[ProcessReport]>.read(Array(#"{"error":{"code":"x","message":"m"},"ok":false,"v":2}"#.utf8)))
            == .failure(ControlError(ControlError.Code(rawValue: "x"), "m")))
    }
}
