import ArgumentParser
import Synchronization

/// The `osmo` command tree as swift-argument-parser sees it: every role whose flags it parses,
/// under one root named `osmo`. Parsing through the root is what makes every usage line read
/// `osmo data download …`, gives the shell completion scripts one tree to describe, and lets
/// the mistakes below be explained in one place. (`ctrl` and `user` take Go-style flags and are
/// dispatched by `OsmoMain` alone.)
struct OsmoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osmo",
        abstract: "The OSMO task-pod runtime in one binary.",
        subcommands: [
            InitCommand.self, DataCommand.self, PodCommand.self, ServiceCommand.self,
            ExecCommand.self, PortForwardCommand.self, WorkflowCommand.self,
        ])

    /// Parses `osmo <role> <arguments>`, with the manners of issue 12 §9:
    /// - a mistyped subcommand is a `CommandLineMistake` naming the nearest one;
    /// - a command given nothing, where it needs arguments, prints its own help
    ///   (`CleanExit.helpRequest`, exit 0);
    /// - a command for a task given without `--` is pointed at `--`.
    static func parse(_ role: ParsableCommand.Type, _ arguments: [String]) throws -> ParsableCommand {
        let walk = try walk(role, arguments)
        parsed.withLock { $0 = walk.leaf }
        do {
            return try parseAsRoot([name(of: role)] + arguments)
        } catch {
            guard exitCode(for: error) != .success else { throw error }
            if walk.rest.isEmpty {
                // Nothing after the command's name, and that is not enough for it.
                throw helpRequest(walk)
            }
            if let hint = dashesHint(walk, error) {
                throw CommandLineMistake(text: insert(hint, into: fullMessage(for: error)))
            }
            throw error
        }
    }

    /// The help of the command at `walk.path`, as `--help` gives it: the error that carries it
    /// (a command reached by two paths, `osmo exec` and `osmo workflow exec`, keeps its own).
    static func helpRequest(_ walk: Walk) -> any Error {
        do {
            var help = try parseAsRoot(Array(walk.path.dropFirst()) + ["--help"])
            try help.run()
        } catch {
            return error
        }
        return CleanExit.helpRequest(walk.leaf)
    }

    /// The text to print for an error from `parse` (help, a usage error with its hint, or any
    /// other error), rendered against the whole tree.
    static func explain(_ error: any Error) -> String {
        if let mistake = error as? CommandLineMistake { return mistake.text }
        // A command's own check after parsing (`give the command after --`): that command's
        // usage, not the root's.
        if let validation = error as? ValidationError, let leaf = parsed.withLock({ $0 }) {
            let command = commandPath(of: leaf)
            return "Error: \(validation.message)\nUsage: \(usageString(for: leaf))\n  See '\(command) --help' for more information."
        }
        return fullMessage(for: error)
    }

    /// The command last given to `parse` (one command line per process).
    private static let parsed = Mutex<ParsableCommand.Type?>(nil)

    /// `osmo pod run` for `PodCommand.Run`.
    static func commandPath(of command: ParsableCommand.Type) -> String {
        func search(_ node: ParsableCommand.Type, _ path: [String]) -> [String]? {
            if ObjectIdentifier(node) == ObjectIdentifier(command) { return path }
            for child in children(of: node) {
                if let found = search(child, path + [name(of: child)]) { return found }
            }
            return nil
        }
        return (search(OsmoCommand.self, ["osmo"]) ?? ["osmo", name(of: command)]).joined(separator: " ")
    }

    /// The words of the command line that name (sub)commands, and what follows them.
    struct Walk {
        var leaf: ParsableCommand.Type
        var path: [String]
        var rest: ArraySlice<String>
    }

    /// Follows subcommand names from `role`; a word that should be a subcommand and names none is
    /// a mistake, with the nearest name suggested.
    static func walk(_ role: ParsableCommand.Type, _ arguments: [String]) throws -> Walk {
        var walk = Walk(leaf: role, path: ["osmo", name(of: role)], rest: arguments[...])
        while let word = walk.rest.first {
            let subcommands = children(of: walk.leaf)
            guard !subcommands.isEmpty, !word.hasPrefix("-") else { break }
            if let next = subcommands.first(where: { answers(to: word, $0) }) {
                walk.leaf = next
                walk.path.append(word)
                walk.rest = walk.rest.dropFirst()
                continue
            }
            guard !hasDefaultSubcommand(walk.leaf) else { break }
            var names: [String] = []
            for child in subcommands where isShown(child) { names.append(name(of: child)) }
            let command = walk.path.joined(separator: " ")
            var text = "Error: '\(word)' is not a command of `\(command)`"
            let suggestions = Spelling.nearest(word, among: names)
            if !suggestions.isEmpty {
                text += ": did you mean \(Spelling.list(suggestions, prefix: command + " "))?"
            } else {
                text += " (its commands: \(names.joined(separator: ", ")))"
            }
            text += "\nUsage: \(usageString(for: walk.leaf))\n  See '\(command) --help' for more information."
            throw CommandLineMistake(text: text)
        }
        return walk
    }

    // Small accessors on command types (the compiler of Swift 6.3 crashes on key paths into
    // existential metatypes).
    static func name(of command: ParsableCommand.Type) -> String { command._commandName }
    static func children(of command: ParsableCommand.Type) -> [ParsableCommand.Type] { command.configuration.subcommands }
    static func isShown(_ command: ParsableCommand.Type) -> Bool { command.configuration.shouldDisplay }
    static func hasDefaultSubcommand(_ command: ParsableCommand.Type) -> Bool { command.configuration.defaultSubcommand != nil }
    static func answers(to word: String, _ command: ParsableCommand.Type) -> Bool {
        command._commandName == word || command.configuration.aliases.contains(word)
    }

    /// For a command that runs something in a task (after `--`) and was given it without `--`:
    /// the same line with `--` where the command starts.
    static func dashesHint(_ walk: Walk, _ error: any Error) -> String? {
        guard walk.leaf is any TakesCommandAfterDashes.Type, !walk.rest.contains("--") else { return nil }
        // "Unexpected argument 'x'" / "2 unexpected arguments: 'x', 'y'" / "Unknown option '-l'"
        let message = message(for: error)
        guard message.lowercased().contains("unexpected argument") || message.hasPrefix("Unknown option"),
              let quoted = message.split(separator: "'", omittingEmptySubsequences: false).dropFirst().first else { return nil }
        let words = Array(walk.rest)
        let unexpected = String(quoted)
        var start = words.firstIndex(of: unexpected)
        if start == nil, message.hasPrefix("Unknown option") {
            // `-la` reported as `-l`: the word that holds it.
            start = words.firstIndex { $0.hasPrefix(unexpected) }
        }
        guard var first = start else { return nil }
        if message.hasPrefix("Unknown option") {
            // An unknown option after a word none of ours took belongs to the command in that
            // word (`osmo exec wf t ls -la`); without such a word it is just a mistyped flag.
            guard let earlier = words[..<first].lastIndex(where: { !$0.hasPrefix("-") }),
                  earlier >= positionalCount(walk.leaf) else { return nil }
            first = earlier
        }
        let fixed = walk.path + words[..<first] + ["--"] + words[first...]
        return "The command to run goes after `--`: \(fixed.map(ShellQuote.quote).joined(separator: " "))"
    }

    /// How many positional arguments come before the command (workflow and task for exec).
    static func positionalCount(_ command: ParsableCommand.Type) -> Int {
        (command as? any TakesCommandAfterDashes.Type)?.positionalsBeforeCommand ?? 0
    }

    /// `text` with `line` after its first line (the error line, before the usage).
    static func insert(_ line: String, into text: String) -> String {
        guard let newline = text.firstIndex(of: "\n") else { return text + "\n" + line }
        return String(text[..<newline]) + "\n" + line + String(text[newline...])
    }
}

/// A command line `osmo` understood well enough to say what is wrong with it: the text is
/// complete (the error, the hint, the usage). Exit status 2, like every usage error.
struct CommandLineMistake: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// Commands whose last arguments, after `--`, are a command to run (`osmo pod run -- CMD`,
/// `osmo exec WF TASK -- CMD`).
protocol TakesCommandAfterDashes {
    static var positionalsBeforeCommand: Int { get }
}

extension PodCommand.Run: TakesCommandAfterDashes {
    static var positionalsBeforeCommand: Int { 0 }
}

extension PodCommand.Manifest: TakesCommandAfterDashes {
    static var positionalsBeforeCommand: Int { 0 }
}

extension ExecCommand: TakesCommandAfterDashes {
    static var positionalsBeforeCommand: Int { 2 }
}
