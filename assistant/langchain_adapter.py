"""The hybrid retriever behind langchain-core's retriever interface, for use in LangChain chains.
Kept off the `import assistant` path: langchain-core costs over a second of a cold start."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class AssistantRetriever(BaseRetriever):
    """The hybrid retriever behind langchain-core's interface, for use in LangChain chains."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    assistant: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [
            LCDocument(page_content=h.text, id=h.chunk_id, metadata={
                "source": h.source, "chunk_id": h.chunk_id, "title": h.title, "section": h.section,
                "score": h.score, **h.metadata})
            for h in self.assistant.retrieve(query, k=self.k)
        ]
