/// "Did you mean …?": the name a mistyped word was most likely meant to be.
enum Spelling {
    /// The names nearest to `word` (optimal string alignment distance: an insertion, deletion,
    /// substitution or swap of two neighbours each count 1), if they are near enough to be a
    /// typo: at most 2 edits and at most half the word's letters; else the one name `word`
    /// begins. Empty when nothing is close. Ties give several (at most 3).
    static func nearest(_ word: String, among names: [String]) -> [String] {
        let typed = word.lowercased()
        let scored = names.map { (name: $0, distance: distance(typed, $0.lowercased())) }
        if let best = scored.map(\.distance).min(), best <= 2, best * 2 <= typed.count {
            return Array(scored.filter { $0.distance == best }.map(\.name).prefix(3))
        }
        let prefixed = names.filter { $0.lowercased().hasPrefix(typed) }
        return typed.count >= 2 && prefixed.count == 1 ? prefixed : []
    }

    /// "`a`", "`a` or `b`": suggestions as the messages show them, each prefixed.
    static func list(_ names: [String], prefix: String = "") -> String {
        names.map { "`\(prefix)\($0)`" }.joined(separator: " or ")
    }

    /// Optimal string alignment distance between `a` and `b`.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
