//! Building the block tree from preprocessed lines.
//!
//! Every line holds one statement (`keyword args...`). A `{` ends the statement before it and
//! opens its block; a `{` that starts a line opens the block of the previous statement; a `}`
//! ends the current statement and closes the innermost block. So `global_defs { router_id x }`
//! on one line is the same as the usual three lines.

use crate::diag::{Diagnostics, Origin};
use crate::lexer::{RawToken, RawTokens, Word};
use crate::preprocess::{Line, LineSink};

/// Deepest block nesting accepted; deeper input is reported, not recursed into.
pub const MAX_DEPTH: usize = 64;

/// One statement of the configuration, with its block if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Where the statement starts.
    pub origin: Origin,
    /// The keyword followed by its arguments. Never empty.
    pub words: Vec<Word>,
    /// The statements of its `{ ... }` block, if it has one.
    pub children: Option<Vec<Node>>,
}

impl Node {
    /// The first word: the keyword (or, inside list blocks like `virtual_ipaddress`, the item).
    pub fn keyword(&self) -> &str {
        self.words.first().map(|w| w.text.as_str()).unwrap_or("")
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// The text of argument `i` (0 = first word after the keyword).
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args().get(i).map(|w| w.text.as_str())
    }

    /// The statements of the block, or an empty slice when there is no block.
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    /// True when the statement was followed by a block.
    pub fn has_block(&self) -> bool {
        self.children.is_some()
    }
}

struct Frame {
    nodes: Vec<Node>,
    /// The statement that owns this block (None for the top level).
    owner: Option<Node>,
}

/// Builds the statement tree. Unbalanced braces are reported with file and line; the tree is
/// still built from what can be understood.
pub fn build(lines: &[Line], diags: &mut Diagnostics) -> Vec<Node> {
    build_skipping(lines, &[], diags)
}

/// A top-level statement being left out by [`build_skipping`].
struct Skipped {
    /// Where it starts and its keyword, for a "not closed" report.
    origin: Origin,
    keyword: String,
    /// Blocks open inside it; 0 between the keyword line and a `{` starting a later line.
    depth: usize,
    /// True until the end of the line of its keyword: words there are its arguments.
    keyword_line: bool,
}

/// As [`build`], but the top-level statements whose keyword is in `skip` are left out with
/// everything in their blocks: their words are never stored, only their braces are counted,
/// so unbalanced braces are reported as [`build`] reports them. A process that does not run a
/// part of the configuration (the VRRP child and the virtual servers) reads it at the cost of
/// splitting its lines.
pub fn build_skipping(lines: &[Line], skip: &[&str], diags: &mut Diagnostics) -> Vec<Node> {
    build_skipping_report(lines, skip, diags).0
}

/// [`build_skipping`], also giving the keyword of every statement it left out, in order.
pub fn build_skipping_report(
    lines: &[Line],
    skip: &[&str],
    diags: &mut Diagnostics,
) -> (Vec<Node>, Vec<String>) {
    let mut builder = TreeBuilder::new(skip);
    for line in lines {
        builder.line(&line.origin, &line.text);
    }
    builder.finish(diags)
}

/// Builds the tree one line at a time, as the preprocessor produces them (it is a
/// [`LineSink`]): nothing but the words kept in the tree is copied. [`TreeBuilder::finish`]
/// gives the tree, and the problems found, after any the caller recorded meanwhile (the
/// preprocessor's), so the diagnostics keep the order of [`build_skipping_report`].
pub struct TreeBuilder<'s> {
    skip: &'s [&'s str],
    left_out: Vec<String>,
    stack: Vec<Frame>,
    /// Blocks opened past MAX_DEPTH, skipped wholesale.
    too_deep: usize,
    skipped: Option<Skipped>,
    /// The words of the statement being read (its buffer reused from one to the next).
    stmt: Vec<Word>,
    diags: Diagnostics,
    /// Takes each top-level statement once it is complete, instead of the tree keeping it.
    on_statement: Option<Box<dyn FnMut(Node) + 's>>,
}

impl std::fmt::Debug for TreeBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeBuilder")
            .field("skip", &self.skip)
            .field("depth", &self.stack.len())
            .finish_non_exhaustive()
    }
}

impl LineSink for TreeBuilder<'_> {
    fn line(&mut self, origin: &Origin, text: &str) {
        self.add_line(origin, text);
        if self.stack.len() == 1 {
            self.hand_over(false);
        }
    }
}

impl<'s> TreeBuilder<'s> {
    /// A builder leaving out the top-level statements whose keyword is in `skip` (see
    /// [`build_skipping`]).
    pub fn new(skip: &'s [&'s str]) -> Self {
        TreeBuilder {
            skip,
            left_out: Vec::new(),
            stack: vec![Frame {
                nodes: Vec::new(),
                owner: None,
            }],
            too_deep: 0,
            skipped: None,
            stmt: Vec::new(),
            diags: Diagnostics::default(),
            on_statement: None,
        }
    }

    /// Hands every top-level statement to `take` as soon as nothing later can change it
    /// (its block closed and another statement begun, or the end), in order; the tree that
    /// [`TreeBuilder::finish`] gives then holds none. A large configuration is then never
    /// held whole as a tree: the model is built, and the words freed, one block at a time.
    pub fn on_statement(mut self, take: impl FnMut(Node) + 's) -> Self {
        self.on_statement = Some(Box::new(take));
        self
    }

    /// Hands the complete top-level statements over, when someone takes them. The last one
    /// stays while a `{` at the start of a later line could still give it its block.
    fn hand_over(&mut self, all: bool) {
        let Some(take) = self.on_statement.as_mut() else {
            return;
        };
        let Some(top) = self.stack.first_mut() else {
            return;
        };
        let open = usize::from(!all && top.nodes.last().is_some_and(|n| n.children.is_none()));
        let done = top.nodes.len().saturating_sub(open);
        for node in top.nodes.drain(..done) {
            take(node);
        }
    }

    /// Adds one line.
    fn add_line(&mut self, origin: &Origin, text: &str) {
        let TreeBuilder {
            skip,
            left_out,
            stack,
            too_deep,
            skipped,
            stmt,
            diags,
            on_statement: _,
        } = self;
        let skip: &[&str] = skip;
        // Every statement ends with its line (flushed below): the buffer starts empty.
        // Quotes pair up in order, so one is left open exactly when their number is odd (the
        // lexer then drops the rest of the line). Reported before the line's other problems.
        if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            diags.warn(origin, format!("Unmatched quote: '{}'", text.trim()));
        }
        for tok in RawTokens::new(text) {
            if let Some(sk) = skipped.as_mut() {
                match tok {
                    RawToken::Open => {
                        sk.depth += 1;
                        if sk.depth == MAX_DEPTH + 1 {
                            diags.error(
                                origin,
                                format!("blocks nested deeper than {MAX_DEPTH} levels - skipped"),
                            );
                        }
                        continue;
                    }
                    RawToken::Close if sk.depth > 0 => {
                        sk.depth -= 1;
                        if sk.depth == 0 {
                            *skipped = None;
                        }
                        continue;
                    }
                    // Words of the skipped statement (its keyword line) or of its block.
                    RawToken::Word(..) if sk.depth > 0 || sk.keyword_line => continue,
                    // The keyword line ended without a block: this token starts something new.
                    _ => *skipped = None,
                }
            }
            match tok {
                RawToken::Word(text, quoted) => {
                    if *too_deep == 0 {
                        if stack.len() == 1 && stmt.is_empty() && skip.contains(&text) {
                            left_out.push(text.to_string());
                            *skipped = Some(Skipped {
                                origin: origin.clone(),
                                keyword: text.to_string(),
                                depth: 0,
                                keyword_line: true,
                            });
                            continue;
                        }
                        stmt.push(Word {
                            text: text.to_string(),
                            quoted,
                        })
                    }
                }
                RawToken::Open => {
                    if *too_deep > 0 {
                        *too_deep += 1;
                        continue;
                    }
                    let owner = if stmt.is_empty() {
                        // `{` at the start of a line: the previous statement's block.
                        let top = stack.last_mut().map(|f| &mut f.nodes);
                        match top.and_then(|n| n.pop()) {
                            Some(prev) if prev.children.is_none() => Some(prev),
                            Some(prev) => {
                                diags.error(origin, "'{' without a keyword before it");
                                if let Some(f) = stack.last_mut() {
                                    f.nodes.push(prev);
                                }
                                None
                            }
                            None => {
                                diags.error(origin, "'{' without a keyword before it");
                                None
                            }
                        }
                    } else {
                        Some(Node {
                            origin: origin.clone(),
                            words: take_exact(stmt),
                            children: None,
                        })
                    };
                    if stack.len() > MAX_DEPTH {
                        diags.error(
                            origin,
                            format!("blocks nested deeper than {MAX_DEPTH} levels - skipped"),
                        );
                        *too_deep = 1;
                        continue;
                    }
                    // A brace with no owner still opens a block, so the matching '}' balances.
                    let owner = owner.or_else(|| {
                        Some(Node {
                            origin: origin.clone(),
                            words: Vec::new(),
                            children: None,
                        })
                    });
                    stack.push(Frame {
                        nodes: Vec::new(),
                        owner,
                    });
                }
                RawToken::Close => {
                    if *too_deep > 0 {
                        *too_deep -= 1;
                        continue;
                    }
                    flush(stack, stmt, origin);
                    if stack.len() == 1 {
                        diags.error(origin, "unexpected '}' - no block is open");
                        continue;
                    }
                    close_frame(stack);
                }
            }
        }
        flush(stack, stmt, origin);
        if let Some(sk) = skipped.as_mut() {
            // After its keyword line only a `{` (at depth 0: the block of the statement, as
            // in `build`) or the rest of its block still belongs to the skipped statement.
            sk.keyword_line = false;
        }
    }

    /// The tree and the keywords of the statements left out; the problems found are added to
    /// `diags` after those already there.
    pub fn finish(mut self, diags: &mut Diagnostics) -> (Vec<Node>, Vec<String>) {
        // No line follows: every top-level statement is complete. (Blocks left open are
        // closed below and join the top level after these.)
        self.hand_over(true);
        let TreeBuilder {
            left_out,
            mut stack,
            skipped,
            diags: mine,
            mut on_statement,
            ..
        } = self;
        diags.append(mine);
        if let Some(sk) = skipped.filter(|sk| sk.depth > 0) {
            diags.error(
                &sk.origin,
                format!("missing '}}' - block '{}' is not closed", sk.keyword),
            );
        }
        while stack.len() > 1 {
            if let Some(Some(owner)) = stack.last().map(|f| &f.owner) {
                let kw = owner.words.first().map(|w| w.text.as_str()).unwrap_or("{");
                diags.error(
                    &owner.origin,
                    format!("missing '}}' - block '{kw}' is not closed"),
                );
            }
            close_frame(&mut stack);
        }
        let mut nodes = stack.pop().map(|f| f.nodes).unwrap_or_default();
        if let Some(take) = on_statement.as_mut() {
            for node in nodes.drain(..) {
                take(node);
            }
        }
        (nodes, left_out)
    }
}

/// Moves the words out into a vector of exactly their number, keeping `stmt`'s buffer for the
/// next statement (a growing Vec would leave most nodes with unused slots).
fn take_exact(stmt: &mut Vec<Word>) -> Vec<Word> {
    let mut v = Vec::with_capacity(stmt.len());
    v.append(stmt);
    v
}

fn flush(stack: &mut [Frame], stmt: &mut Vec<Word>, origin: &Origin) {
    if stmt.is_empty() {
        return;
    }
    if let Some(f) = stack.last_mut() {
        f.nodes.push(Node {
            origin: origin.clone(),
            words: take_exact(stmt),
            children: None,
        });
    }
}

fn close_frame(stack: &mut Vec<Frame>) {
    let Some(frame) = stack.pop() else { return };
    let Some(mut owner) = frame.owner else { return };
    if owner.words.is_empty() {
        // An ownerless block: its statements are dropped (already reported).
        return;
    }
    let mut nodes = frame.nodes;
    nodes.shrink_to_fit();
    owner.children = Some(nodes);
    if let Some(parent) = stack.last_mut() {
        parent.nodes.push(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Line> {
        text.lines()
            .enumerate()
            .map(|(i, t)| Line {
                origin: Origin::new("t.conf", i as u32 + 1),
                text: t.to_string(),
            })
            .collect()
    }

    fn shape(nodes: &[Node]) -> String {
        let mut s = String::new();
        for n in nodes {
            let w: Vec<&str> = n.words.iter().map(|w| w.text.as_str()).collect();
            s.push_str(&w.join(" "));
            if let Some(c) = &n.children {
                s.push('{');
                s.push_str(&shape(c));
                s.push('}');
            }
            s.push(';');
        }
        s
    }

    #[test]
    fn braces_anywhere_give_the_same_tree() {
        let mut d = Diagnostics::default();
        let a = build(&lines("global_defs {\n router_id x\n}\n"), &mut d);
        let b = build(&lines("global_defs { router_id x }\n"), &mut d);
        let c = build(&lines("global_defs\n{\n router_id x }\n"), &mut d);
        let e = build(&lines("global_defs { router_id x\n}"), &mut d);
        assert!(d.is_clean(), "{d:?}");
        assert_eq!(shape(&a), "global_defs{router_id x;};");
        assert_eq!(shape(&b), shape(&a));
        assert_eq!(shape(&c), shape(&a));
        assert_eq!(shape(&e), shape(&a));
    }

    #[test]
    fn nested_blocks_on_one_line() {
        let mut d = Diagnostics::default();
        let t = build(&lines("a { b { c 1 } d }"), &mut d);
        assert!(d.is_clean());
        assert_eq!(shape(&t), "a{b{c 1;};d;};");
    }

    #[test]
    fn unbalanced_braces_are_reported_with_line() {
        let mut d = Diagnostics::default();
        build(&lines("a {\n b\n}\n}\n"), &mut d);
        assert_eq!(d.items().len(), 1);
        assert_eq!(d.items()[0].origin.as_ref().map(|o| o.line), Some(4));
        let mut d = Diagnostics::default();
        build(&lines("a {\n b {\n"), &mut d);
        assert_eq!(d.items().len(), 2);
    }

    /// `build_skipping` gives `build`'s tree without the skipped top-level statements, and
    /// the same brace diagnostics (lines included).
    fn skips_like_build(text: &str) {
        let mut full_d = Diagnostics::default();
        let full = build(&lines(text), &mut full_d);
        let mut d = Diagnostics::default();
        let skipped = build_skipping(&lines(text), &["vs", "grp"], &mut d);
        let kept: Vec<Node> = full
            .into_iter()
            .filter(|n| !matches!(n.keyword(), "vs" | "grp"))
            .collect();
        assert_eq!(shape(&skipped), shape(&kept), "{text:?}");
        let lines_of = |d: &Diagnostics| -> Vec<Option<u32>> {
            d.items()
                .iter()
                .map(|i| i.origin.as_ref().map(|o| o.line))
                .collect()
        };
        let mut want = lines_of(&full_d);
        let mut got = lines_of(&d);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{text:?}: {d:?} vs {full_d:?}");
    }

    #[test]
    fn skipped_statements_leave_the_rest_as_build_does() {
        for text in [
            "a 1\nvs 10.0.0.1 80 {\n rs x {\n  w 1\n }\n}\nb 2\n",
            "vs x {\n}\nvs y { a { b } }\nc { d }\n",
            "vs x\n{\n a\n}\nb\n",
            "vs x\nb\n",
            "vs x\nb {\n c\n}\n",
            "vs x { a } b { c }\n",
            "vs x { a }\n}\nb\n",
            "a {\n vs x { b }\n}\n",
            "grp g { 1 2 }\nvs v { }\n{\n z\n}\n",
            "vs\n",
            "x vs { y }\n",
        ] {
            skips_like_build(text);
        }
    }

    #[test]
    fn an_unclosed_skipped_block_is_reported_at_its_keyword() {
        let mut d = Diagnostics::default();
        // `build` also names the inner blocks; what is skipped is reported as one block.
        let t = build_skipping(&lines("b\nvs x {\n a {\n"), &["vs"], &mut d);
        assert_eq!(shape(&t), "b;");
        assert_eq!(d.items().len(), 1, "{d:?}");
        assert_eq!(d.items()[0].origin.as_ref().map(|o| o.line), Some(2));
    }

    #[test]
    fn skipped_deep_nesting_is_bounded() {
        let mut d = Diagnostics::default();
        let text = "vs {".repeat(10_000) + &"}".repeat(10_000) + "\nb\n";
        let t = build_skipping(&lines(&text), &["vs"], &mut d);
        assert!(!d.is_clean());
        assert_eq!(shape(&t), "b;");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut d = Diagnostics::default();
        let text = "a {".repeat(10_000) + &"}".repeat(10_000);
        build(&lines(&text), &mut d);
        assert!(!d.is_clean());
    }
}
