import Testing
@testable import CalfShell

@Suite(.timeLimit(.minutes(2))) struct ShellLineTests {
    @Test func sendTakesJSONWholeEvenWithSpacesAndBraces() throws {
        let request = try ShellLine.parse(#"send teller {"transfer": {"from": 3, "to": 7, "note": "a } b"}} --key t-1"#)
        #expect(request == .send(to: "teller", message: ["transfer": ["from": 3, "to": 7, "note": "a } b"]], key: "t-1"))
        #expect(try ShellLine.parse(#"send teller "hello world""#) == .send(to: "teller", message: "hello world", key: nil))
        #expect(try ShellLine.parse("send counter 42") == .send(to: "counter", message: 42, key: nil))
    }

    @Test func callAndStateParse() throws {
        let call = try ShellLine.parse(#"call account-3 {"balance":{}} --timeout 250"#)
        #expect(call == .call(to: "account-3", message: ["balance": [:]], timeoutMilliseconds: 250))
        let state = try ShellLine.parse("  state   <0.12.0> ")
        #expect(state == .state(of: "<0.12.0>", at: nil))
        #expect(try ShellLine.parse("state account-3 --at 42") == .state(of: "account-3", at: 42))
    }

    @Test func operatorCommandsParse() throws {
        #expect(try ShellLine.parse("ps") == .ps(order: .pid))
        #expect(try ShellLine.parse("ps --sort mailbox") == .ps(order: .mailbox))
        #expect(try ShellLine.parse("ps --sort msgs") == .ps(order: .messages))
        #expect(try ShellLine.parse("ps --active --sort msgs") == .ps(order: .messages, passivated: false))
        #expect(try ShellLine.parse("passivate account-3") == .passivate("account-3"))
        #expect(try ShellLine.parse("tree") == .tree)
        #expect(try ShellLine.parse("kill worker some reason here") == .kill("worker", reason: "some reason here"))
        #expect(try ShellLine.parse("kill worker") == .kill("worker", reason: nil))
        #expect(try ShellLine.parse("dead") == .deadLetters(of: nil))
        #expect(try ShellLine.parse("dead <0.5.0>") == .deadLetters(of: "<0.5.0>"))
        #expect(try ShellLine.parse("dead retry 17") == .retryDeadLetter(id: 17))
        #expect(try ShellLine.parse("effects") == .effects(of: nil))
        #expect(try ShellLine.parse("effects stamper") == .effects(of: "stamper"))
        #expect(try ShellLine.parse("callbacks") == .callbacks(of: nil))
        #expect(try ShellLine.parse("callbacks waiter") == .callbacks(of: "waiter"))
        #expect(throws: ShellLine.ParseError.self) { try ShellLine.parse("effects a b") }
        #expect(try ShellLine.parse("journal a --from 3 --limit 2") == .journal(of: "a", from: 3, limit: 2))
        #expect(try ShellLine.parse("stats") == .stats)
        #expect(try ShellLine.parse("top") == .top(order: .rate, limit: nil))
        #expect(try ShellLine.command("quit") == .quit)
        #expect(try ShellLine.command("exit") == .quit)
    }

    @Test func badLinesAreClearErrors() {
        let cases: [(String, String)] = [
            ("", "empty command"),
            ("frobnicate x", "unknown command 'frobnicate'"),
            ("send", "send needs a process name"),
            ("send teller", "missing JSON message"),
            ("send teller hello", "the message hello is not JSON (a string is written in quotes)"),
            (#"send teller {"a":1"#, "unbalanced JSON"),
            (#"send teller {} --key"#, "--key needs a value"),
            (#"send teller {} --timeout 5"#, "unknown option '--timeout' for send"),
            (#"call teller {} --timeout soon"#, "--timeout needs milliseconds"),
            ("state", "state needs a process name"),
            ("state a b", "unknown option 'b' for state"),
            ("state a --at soon", "--at needs a seq"),
            ("ps --sort colour", "--sort takes mailbox, msgs, memory or restarts"),
            ("ps -x", "unknown option '-x' for ps"),
            ("info", "info needs a process name"),
            ("tree x", "tree takes no argument"),
            ("kill", "kill needs a process name"),
            ("suspend a b", "suspend takes one argument"),
            ("passivate", "passivate needs a process name"),
            ("passivate a b", "passivate takes one argument"),
            ("dead retry x", "dead retry needs the id of a dead letter"),
            ("journal a --limit 0", "--limit needs a positive count"),
            ("journal a --from x", "--from needs a seq"),
            ("toop", "unknown command 'toop' (send, call, state"),
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

    @Test func helpCoversEveryCommandTheShellKnows() {
        for entry in ShellHelp.commands where entry.name != "help" && entry.name != "quit" {
            do {
                _ = try ShellLine.parse(entry.name)
            } catch {
                #expect(!error.description.contains("unknown command"), "help lists \(entry.name) but the shell does not know it")
            }
            #expect(ShellHelp.text(for: entry.name)?.hasPrefix(entry.usage) == true)
        }
        #expect(ShellHelp.text(for: "nope") == nil)
        #expect(ShellHelp.text()?.contains("journal P [--from SEQ] [--limit N]") == true)
    }
}
