import Foundation

/// The Erlang side of `calf bench savina`: the same benchmarks for the
/// BEAM, compiled with `erlc` into a temporary directory and run by `erl`
/// (Debian's erlang-nox) with its default schedulers and with `+S 1`.
enum SavinaErlang {
    /// The module's source.
    static let source = #"""
-module(savina).
-export([main/1]).

%% The Savina benchmarks that `calf bench savina` runs, for the BEAM, written
%% as the Calf ones are: one process for one process, the same messages.
%% Prints "name rate" lines, each the median of Rounds runs.

main([RoundsText, Only | Sizes]) ->
    Rounds = list_to_integer(RoundsText),
    Chosen = case Only of "all" -> all; _ -> string:tokens(Only, ",") end,
    [Hops, RingSize, RingHops, Count, BigWorkers, BigPings, FjWorkers, FjPer, FjCount, Creatures, Meetings] =
        [list_to_integer(S) || S <- Sizes],
    Run = fun(Name, F) ->
        case Chosen == all orelse lists:member(Name, Chosen) of
            true ->
                Rates = [F() || _ <- lists:seq(1, Rounds)],
                io:format("~s ~.1f~n", [Name, median(Rates)]);
            false -> skipped
        end
    end,
    Run("pingpong", fun() -> pingpong(Hops) end),
    Run("threadring", fun() -> threadring(RingSize, RingHops) end),
    Run("counting", fun() -> counting(Count) end),
    Run("forkjoin_throughput", fun() -> fj_throughput(FjWorkers, FjPer) end),
    Run("forkjoin_creation", fun() -> fj_creation(FjCount) end),
    Run("chameneos", fun() -> chameneos(Creatures, Meetings) end),
    Run("big", fun() -> big(BigWorkers, BigPings) end),
    ok.

median(Rates) -> lists:nth((length(Rates) + 1) div 2, lists:sort(Rates)).

now_s() -> erlang:monotonic_time(nanosecond) / 1.0e9.

finish(Start, Units, Procs) ->
    receive {done, End} -> [exit(P, kill) || P <- Procs], Units / (End - Start) end.

%% Ping-pong
player(Peer, Main) ->
    receive
        {peer, P} -> player(P, Main);
        {ball, 0} -> Main ! {done, now_s()}, player(Peer, Main);
        {ball, K} -> Peer ! {ball, K - 1}, player(Peer, Main)
    end.

pingpong(Hops) ->
    Main = self(),
    A = spawn(fun() -> player(none, Main) end),
    B = spawn(fun() -> player(none, Main) end),
    A ! {peer, B}, B ! {peer, A},
    Start = now_s(),
    A ! {ball, Hops},
    finish(Start, Hops, [A, B]).

%% Thread ring
ring_member(Next, Main) ->
    receive
        {next, N} -> ring_member(N, Main);
        {token, 0} -> Main ! {done, now_s()}, ring_member(Next, Main);
        {token, K} -> Next ! {token, K - 1}, ring_member(Next, Main)
    end.

threadring(Size, Hops) ->
    Main = self(),
    Members = [spawn(fun() -> ring_member(none, Main) end) || _ <- lists:seq(1, Size)],
    Tuple = list_to_tuple(Members),
    [element(I, Tuple) ! {next, element(I rem Size + 1, Tuple)} || I <- lists:seq(1, Size)],
    Start = now_s(),
    hd(Members) ! {token, Hops},
    finish(Start, Hops, Members).

%% Counting
counter(N) ->
    receive
        increment -> counter(N + 1);
        {get, From} -> From ! {count, N}, counter(N)
    end.

send_increments(Counter, 0) -> Counter;
send_increments(Counter, K) -> Counter ! increment, send_increments(Counter, K - 1).

counting(Count) ->
    Main = self(),
    Counter = spawn(fun() -> counter(0) end),
    Sink = spawn(fun() -> receive {count, Count} -> Main ! {done, now_s()} end end),
    Producer = spawn(fun() -> receive go -> send_increments(Counter, Count), Counter ! {get, Sink} end end),
    Start = now_s(),
    Producer ! go,
    finish(Start, Count, [Counter, Sink, Producer]).

%% Fork-join throughput
sink(Total, Total, Main) -> Main ! {done, now_s()};
sink(N, Total, Main) -> receive {one, K} -> sink(N + K, Total, Main) end.

fj_worker(0, _Sum, Sink) -> Sink ! {one, 1};
fj_worker(Left, Sum, Sink) -> receive _ -> fj_worker(Left - 1, Sum + math:sin(Sum + 1), Sink) end.

fj_rounds(_Workers, Per, Per) -> ok;
fj_rounds(Workers, Round, Per) -> [W ! Round || W <- Workers], fj_rounds(Workers, Round + 1, Per).

fj_throughput(Count, Per) ->
    Main = self(),
    Sink = spawn(fun() -> sink(0, Count, Main) end),
    Workers = [spawn(fun() -> fj_worker(Per, 0.0, Sink) end) || _ <- lists:seq(1, Count)],
    Driver = spawn(fun() -> receive go -> fj_rounds(Workers, 0, Per) end end),
    Start = now_s(),
    Driver ! go,
    finish(Start, Count * Per, [Sink, Driver | Workers]).

%% Fork-join creation
fj_leaf(Sink) ->
    receive I -> Value = math:sin(I + 37.2), Sink ! {one, case Value > 2 of true -> 0; false -> 1 end} end.

fj_create(_Sink, Count, Count) -> ok;
fj_create(Sink, I, Count) -> P = spawn(fun() -> fj_leaf(Sink) end), P ! I, fj_create(Sink, I + 1, Count).

fj_creation(Count) ->
    Main = self(),
    Sink = spawn(fun() -> sink(0, Count, Main) end),
    Creator = spawn(fun() -> receive go -> fj_create(Sink, 0, Count) end end),
    Start = now_s(),
    Creator ! go,
    finish(Start, Count, [Sink, Creator]).

%% Chameneos
chameneo(Colour, Mall) ->
    receive
        {start, M} -> M ! {meet, self(), Colour}, chameneo(Colour, M);
        {met, Other} ->
            New = case Colour == Other of true -> Other; false -> 3 - Colour - Other end,
            Mall ! {meet, self(), New},
            chameneo(New, Mall);
        stop -> ok
    end.

mall(Left, Waiting, Gone, Creatures, Main) ->
    receive
        {meet, Creature, _Colour} when Left == 0 ->
            Creature ! stop,
            case Gone + 1 of
                Creatures -> Main ! {done, now_s()};
                G -> mall(0, Waiting, G, Creatures, Main)
            end;
        {meet, Creature, Colour} ->
            case Waiting of
                none -> mall(Left, {Creature, Colour}, Gone, Creatures, Main);
                {Other, OtherColour} ->
                    Other ! {met, Colour},
                    Creature ! {met, OtherColour},
                    mall(Left - 1, none, Gone, Creatures, Main)
            end
    end.

chameneos(Creatures, Meetings) ->
    Main = self(),
    Mall = spawn(fun() -> mall(Meetings, none, 0, Creatures, Main) end),
    All = [spawn(fun() -> chameneo(I rem 3, none) end) || I <- lists:seq(0, Creatures - 1)],
    Start = now_s(),
    [C ! {start, Mall} || C <- All],
    finish(Start, Meetings, [Mall | All]).

%% Big
big_worker(Sink) ->
    receive {start, Neighbours, Pings} -> ping_someone(Neighbours), big_wait(Neighbours, Pings, Sink) end.

ping_someone(Neighbours) ->
    element(rand:uniform(tuple_size(Neighbours)), Neighbours) ! {ping, self()}.

big_wait(Neighbours, Left, Sink) ->
    receive
        {ping, From} -> From ! pong, big_wait(Neighbours, Left, Sink);
        pong when Left == 1 -> Sink ! {one, 1}, big_wait(Neighbours, 0, Sink);
        pong -> ping_someone(Neighbours), big_wait(Neighbours, Left - 1, Sink)
    end.

big(Workers, Pings) ->
    Main = self(),
    Sink = spawn(fun() -> sink(0, Workers, Main) end),
    All = [spawn(fun() -> big_worker(Sink) end) || _ <- lists:seq(1, Workers)],
    Neighbours = list_to_tuple(All),
    Start = now_s(),
    [W ! {start, Neighbours, Pings} || W <- All],
    finish(Start, Workers * Pings * 2, [Sink | All]).
"""#

    /// Whether `erl` and `erlc` are on the PATH.
    static var installed: Bool { executable("erl") != nil && executable("erlc") != nil }

    /// Runs every benchmark `rounds` times under `erl` with `flags`; the
    /// median rate of each, by name (empty when the run failed, with why on standard error).
    static func run(flags: [String], rounds: Int, sizes: SavinaSizes, only: Set<String>?) -> [String: Double] {
        guard let erl = executable("erl"), let erlc = executable("erlc") else { return [:] }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("calf-savina-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try source.write(to: directory.appendingPathComponent("savina.erl"), atomically: true, encoding: .utf8)
        } catch {
            FileHandle.standardError.write(Data("calf bench savina: cannot write the Erlang module: \(error)\n".utf8))
            return [:]
        }
        guard runProcess(erlc, ["-o", directory.path, directory.appendingPathComponent("savina.erl").path]) != nil else { return [:] }
        let chosen = only.map { $0.sorted().joined(separator: ",") } ?? "all"
        let arguments = flags + ["-noshell", "-pa", directory.path, "-run", "savina", "main", String(rounds), chosen]
            + sizes.erlangArguments + ["-s", "init", "stop"]
        guard let output = runProcess(erl, arguments) else { return [:] }
        var rates: [String: Double] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let rate = Double(fields[1]) { rates[String(fields[0])] = rate }
        }
        return rates
    }

    /// Runs `path` with `arguments`; its standard output, or nil (said on standard error) if it failed.
    private static func runProcess(_ path: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            FileHandle.standardError.write(Data("calf bench savina: cannot run \(path): \(error)\n".utf8))
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("calf bench savina: \(path) exited with status \(process.terminationStatus)\n".utf8))
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The full path of `name` on the PATH, if it is there.
    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
