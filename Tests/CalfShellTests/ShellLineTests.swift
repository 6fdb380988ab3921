import Testing
@testable import CalfShell

@Suite struct ShellLineTests {
    @Test func sendTakesJSONWholeEvenWithSpacesAndBraces() throws {
        let request = try ShellLine.parse(#"send teller {"transfer": {"from": 3, "to": 7, "note": "a } b"}} --key t-1"#)
        #expect(request.cmd == "send")
        #expect(request.target == "teller")
        #expect(request.json == #"{"transfer": {"from": 3, "to": 7, "note": "a } b"}}"#)
        #expect(request.key == "t-1")
    }

    @Test func callAndStateParse() throws {
        let call = try ShellLine.parse(#"call account-3 {"balance":{}} --timeout 250"#)
        #expect(call.cmd == "call")
        #expect(call.timeoutMilliseconds == 250)
        let state = try ShellLine.parse("  state   <0.12.0> ")
        #expect(state == .init(cmd: "state", target: "<0.12.0>"))
    }

    @Test func badLinesAreClearErrors() {
        let cases: [(String, String)] = [
            ("", "empty command"),
            ("frobnicate x", "unknown command 'frobnicate'"),
            ("send", "send needs a process name"),
            ("send teller", "missing JSON message"),
            (#"send teller {"a":1"#, "unbalanced JSON"),
            (#"send teller {} --key"#, "--key needs a value"),
            (#"send teller {} --timeout 5"#, "unknown option '--timeout' for send"),
            (#"call teller {} --timeout soon"#, "--timeout needs milliseconds"),
            ("state", "state needs a process name"),
            ("state a b", "state takes one argument"),
        ]
        for (line, expected) in cases {
            #expect(throws: ShellLine.ParseError.self, "\(line)") { try ShellLine.parse(line) }
            do {
                _ = try ShellLine.parse(line)
            } catch {
                #expect(error.description.contains(expected), "\(line): \(error)")
            }
        }
    }
}
