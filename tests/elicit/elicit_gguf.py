"""Write a copy of a GGUF file with its chat template removed or replaced (the ``gguf`` package)."""

from __future__ import annotations

from pathlib import Path


def copy_gguf(source: Path, target: Path, *, chat_template: str | None = None) -> Path:
    """Copy ``source`` to ``target`` without its chat template, or with ``chat_template`` instead."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(source, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(target, arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    new: dict[str, MetadataDetails] = {}
    if chat_template is not None:
        new[gguf.Keys.Tokenizer.CHAT_TEMPLATE] = MetadataDetails(gguf.GGUFValueType.STRING, chat_template)
    remove = [] if chat_template is not None else [gguf.Keys.Tokenizer.CHAT_TEMPLATE]
    copy_with_new_metadata(reader, writer, new, remove)
    return target
