"""Every git call mlreg makes: commit exactly these paths, branch, lock, read trees at a ref.

The git layer's public face; other modules import from here, never from the submodules:
`runner` (the `Git` class: objects, trees, the index, compare-and-swap of refs), `writes` (WriteSet,
the writers' lock, refusals, writing the work tree), `trees` (fast reads of trees, blobs and merges at
a ref), `logs` (history and refs), `remote` (other branches' records, a partial checkout of a remote).
"""

from ...errors import GitError
from .logs import (CommitInfo, commit_time, default_branch, deleted_versions, folder_history, last_commits, log, merge_base, remote_url, resolve_commit, root_commit)
from .trees import (GATED_PATHS, SUBMODULE_MODE, SYMLINK_MODE, Entry, Merge, blobs, changed, clean_blob_ids, commits, common_dir, first_parent, first_parents, head_commit, links, listing, merge_into, worktree_commit)
from .logs import touched_versions
from .remote import fetch_remotes, recorded_uris, sparse_checkout
from .trees import attribute_changes, model_folders
from .runner import Git
from .snapshot import Snapshot, TreeFiles, is_shallow, refuse_shallow
from .writes import (Committed, WriteSet, Content, clean_stale_temp, fault, inside, lock, refuse_dirty, refuse_escape, remove_recorded_temps, write_files)

__all__ = [
    "GATED_PATHS", "SUBMODULE_MODE", "SYMLINK_MODE", "Committed", "WriteSet", "CommitInfo", "Content", "Entry", "Git",
    "Snapshot", "TreeFiles", "fault", "is_shallow", "refuse_shallow", "remove_recorded_temps",
    "GitError", "Merge", "blobs", "changed", "clean_blob_ids", "clean_stale_temp", "commit_time", "commits",
    "common_dir", "default_branch", "deleted_versions", "fetch_remotes", "first_parent", "first_parents",
    "folder_history", "head_commit", "inside", "last_commits", "links", "listing", "lock", "log", "merge_base",
    "merge_into", "recorded_uris", "refuse_dirty", "refuse_escape", "remote_url", "resolve_commit", "root_commit",
    "sparse_checkout", "worktree_commit", "write_files",
]
__all__ += ["attribute_changes", "model_folders", "touched_versions"]
