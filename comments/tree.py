"""A page's comments nested as readers see them: the tree of a thread page, its order, what is
left out, and where a permalink's comment sits in it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from comments.models import Comment, Node, Sort, Status, Target

MAX_NESTING = 50


def build_tree(found: list[Comment], sort: Sort, order: Sequence[int] = ()) -> list[Node]:
    """Nest a page's comments; keep what is approved or has approved replies below it. The
    top-level comments follow the sort; in the best order, which their rows cannot tell, they
    follow `order` (their ids).

    Replies deeper than MAX_NESTING are shown beside their parent rather than below it (their
    `parent` still names it), so no troll can nest a thread until serializing it fails.
    """
    nodes = {comment.id: Node(comment) for comment in found}
    depth: dict[int, int] = {}
    holder: dict[int, Node | None] = {}
    roots: list[Node] = []
    for comment in _parents_first(found):
        parent = nodes.get(comment.parent_id) if comment.parent_id is not None else None
        if parent is None:
            depth[comment.id], holder[comment.id] = 0, None
        elif depth[parent.comment.id] + 1 < MAX_NESTING:
            depth[comment.id], holder[comment.id] = depth[parent.comment.id] + 1, parent
        else:
            depth[comment.id], holder[comment.id] = MAX_NESTING - 1, holder[parent.comment.id]
        into = holder[comment.id]
        (into.replies if into else roots).append(nodes[comment.id])
    if sort is Sort.BEST:
        place = {comment_id: index for index, comment_id in enumerate(order)}
        roots.sort(key=lambda node: place[node.comment.id])
    else:
        roots.sort(key=_position, reverse=sort is Sort.NEWEST)
    return [node for node in roots if _prune(node)]


def shows(found: list[Comment], comment_id: int) -> bool:
    """The comment is on the page as itself, not as the placeholder of a removed or held one."""
    return any(c.id == comment_id and c.status is Status.APPROVED for c in found)


def target_of(tree: list[Node], comment_id: int, position: int) -> Target | None:
    """Where a comment sits in a page's tree: the ids above it (None: not shown there)."""
    path: list[int] = []
    stack = [(node, 0) for node in reversed(tree)]
    while stack:  # iterative: a thread may be thousands of replies deep
        node, depth = stack.pop()
        del path[depth:]
        if node.comment.id == comment_id:
            return Target(comment_id, tuple(path), position)
        path.append(node.comment.id)
        stack.extend((child, depth + 1) for child in reversed(node.replies))
    return None


def _parents_first(found: list[Comment]) -> list[Comment]:
    """The comments, each after its parent. Usually that is id order (a parent had to exist
    first), but an imported reply can have the smaller id: its file listed it first."""
    ordered = sorted(found, key=lambda comment: comment.id)
    ids = {comment.id for comment in found}
    if all(c.parent_id is None or c.parent_id < c.id or c.parent_id not in ids for c in ordered):
        return ordered
    replies: dict[int, list[Comment]] = {}
    result = [c for c in ordered if c.parent_id is None or c.parent_id not in ids]
    for comment in ordered:
        if comment.parent_id is not None and comment.parent_id in ids:
            replies.setdefault(comment.parent_id, []).append(comment)
    for comment in result:  # grows as it goes: breadth first
        result.extend(replies.get(comment.id, ()))
    return result


def _position(node: Node) -> tuple[datetime, int]:
    return node.comment.created, node.comment.id


def _prune(node: Node) -> bool:
    """Drop invisible leaves, bottom up; True when the node still has something to show."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    visible: dict[int, bool] = {}
    while stack:  # iterative: a thread may be thousands of replies deep
        current, expanded = stack.pop()
        if not expanded:
            stack.append((current, True))
            stack.extend((child, False) for child in current.replies)
            continue
        current.replies = sorted(
            (child for child in current.replies if visible[child.comment.id]), key=_position
        )
        visible[current.comment.id] = current.comment.status is Status.APPROVED or bool(
            current.replies
        )
    return visible[node.comment.id]
