"""Planning and applying changes: diff, plan, apply, state store and journal."""

from listsync.sync._diff import ProjectionDiff, apply_result_to_sent, default_plan, diff_projection

__all__ = ["ProjectionDiff", "apply_result_to_sent", "default_plan", "diff_projection"]
