"""What every decoder-only family shares above its body: the unembedding (tied to the
token embedding unless the shape unties it), the logits multiplier muP sets, the
next-token loss, and the ``forward`` signature the trainer calls. A family's model
subclasses :class:`CausalLM`, builds its body under its Hugging Face name, calls
:meth:`CausalLM.add_head` and implements :meth:`CausalLM.hidden_states`."""

from __future__ import annotations

import torch
from torch import nn

from scalinglab.models.attention import causal_padding_mask
from scalinglab.models.init import init_weights
from scalinglab.models.loss import cross_entropy
from scalinglab.models.output import ModelOutput
from scalinglab.models.shape import ShapeSpec


class CausalLM(nn.Module):
    """Causal LM; ``forward`` returns :class:`ModelOutput` (logits ``(B, T, vocab)``)."""

    shape: ShapeSpec

    def add_head(self, shape: ShapeSpec, embedding: nn.Embedding) -> None:
        """The unembedding ``lm_head`` (tied to ``embedding`` when the shape ties it), a
        logits factor of 1 (muP sets ``1/m``), then the GPT-2 initialisation of every
        weight: call it last in ``__init__``."""
        self.lm_head = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        if shape.tied_embeddings:
            self.lm_head.weight = embedding.weight
        self.output_multiplier = 1.0
        init_weights(self, shape.n_layer)

    def hidden_states(
        self, input_ids: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """The body's last hidden states ``(B, T, d_model)``."""
        raise NotImplementedError

    @torch.no_grad()
    def fold_output_multiplier(self) -> None:
        """Multiply ``output_multiplier`` into ``lm_head`` (untied from the embedding)."""
        self.lm_head.weight = nn.Parameter(self.lm_head.weight * self.output_multiplier)
        self.output_multiplier = 1.0

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``input_ids`` ``(B, T)`` with ``T <= n_ctx``; ``labels`` the aligned next-token
        targets; ``attention_mask`` ``(B, T)`` with 1 for real tokens, 0 for padding;
        ``token_type_ids`` is accepted for a common signature and must be ``None``."""
        if token_type_ids is not None:
            raise ValueError(f"{type(self).__name__} has no token types; pass token_type_ids=None")
        hidden = self.hidden_states(input_ids, causal_padding_mask(attention_mask))
        logits = self.lm_head(hidden)
        if self.output_multiplier != 1.0:
            logits = logits * self.output_multiplier
        loss = cross_entropy(logits, labels) if labels is not None else None
        return ModelOutput(logits=logits, loss=loss)
