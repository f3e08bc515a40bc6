"""BERT: a bidirectional encoder in the BERT layout, built from a ShapeSpec.

Post-LayerNorm blocks, learned positions, two token types, erf-GELU MLP of width
``d_ff``. :class:`BertForMaskedLM` adds the masked-LM head (dense, GELU, LayerNorm, a
decoder tied to the token embedding, a vocabulary bias) and, when ``shape.nsp``, the
pooler and next-sentence head (then its names are those of ``BertForPreTraining``).
:class:`BertForSequenceClassification` puts the pooler and a linear classifier on the
encoder for fine-tuning. Module names equal Hugging Face's (``bert.encoder.layer.0.
attention.self.query``, ``cls.predictions.transform.dense``, ...) so state_dict keys
match one to one; attention is ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

from scalinglab.models.init import init_weights
from scalinglab.models.loss import cross_entropy
from scalinglab.models.output import ModelOutput
from scalinglab.models.shape import ShapeSpec

LAYER_NORM_EPS = 1e-12
TYPE_VOCAB_SIZE = 2


class BertEmbeddings(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(shape.vocab_size, shape.d_model)
        self.position_embeddings = nn.Embedding(shape.n_ctx, shape.d_model)
        self.token_type_embeddings = nn.Embedding(TYPE_VOCAB_SIZE, shape.d_model)
        self.LayerNorm = nn.LayerNorm(shape.d_model, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens is longer than the context "
                f"n_ctx = {self.position_embeddings.num_embeddings} of this shape"
            )
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.n_head = shape.n_head
        self.query = nn.Linear(shape.d_model, shape.d_model)
        self.key = nn.Linear(shape.d_model, shape.d_model)
        self.value = nn.Linear(shape.d_model, shape.d_model)
        self.dropout = dropout
        #: Extra factor on queries (1: scores scaled by 1/sqrt(d_head); muP sets
        #: 1/sqrt(d_head), so 1/d_head in all: :mod:`scalinglab.models.mup`).
        self.query_multiplier = 1.0

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    @torch.no_grad()
    def fold_query_multiplier(self) -> None:
        """Multiply ``query_multiplier`` into ``query`` (same outputs)."""
        self.query.weight.mul_(self.query_multiplier)
        self.query.bias.mul_(self.query_multiplier)
        self.query_multiplier = 1.0

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.shape
        query = self.query(x)
        if self.query_multiplier != 1.0:
            query = query * self.query_multiplier
        y = F.scaled_dot_product_attention(
            self._heads(query),
            self._heads(self.key(x)),
            self._heads(self.value(x)),
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return y.transpose(1, 2).reshape(B, T, C)


class BertSelfOutput(nn.Module):
    """Output projection, dropout, residual add and LayerNorm (post-LN)."""

    def __init__(self, d_in: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_model)
        self.LayerNorm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.self = BertSelfAttention(shape, dropout)
        self.output = BertSelfOutput(shape.d_model, shape.d_model, dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, attn_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, shape: ShapeSpec) -> None:
        super().__init__()
        self.dense = nn.Linear(shape.d_model, shape.d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.attention = BertAttention(shape, dropout)
        self.intermediate = BertIntermediate(shape)
        self.output = BertSelfOutput(shape.d_ff, shape.d_model, dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, attn_mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(shape, dropout) for _ in range(shape.n_layer))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, attn_mask)
        return x


class BertPooler(nn.Module):
    """``tanh(dense(h[:, 0]))``: the first token's state, for sentence-level heads."""

    def __init__(self, shape: ShapeSpec) -> None:
        super().__init__()
        self.dense = nn.Linear(shape.d_model, shape.d_model)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """Embeddings and encoder (named ``bert`` in the task models), optional pooler."""

    def __init__(self, shape: ShapeSpec, dropout: float, add_pooling_layer: bool) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(shape, dropout)
        self.encoder = BertEncoder(shape, dropout)
        self.pooler = BertPooler(shape) if add_pooling_layer else None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
    ) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        attn_mask = None
        if attention_mask is not None:
            attn_mask = attention_mask.bool()[:, None, None, :]
        return self.encoder(self.embeddings(input_ids, token_type_ids), attn_mask)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, shape: ShapeSpec) -> None:
        super().__init__()
        self.dense = nn.Linear(shape.d_model, shape.d_model)
        self.LayerNorm = nn.LayerNorm(shape.d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, shape: ShapeSpec) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(shape)
        self.decoder = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(shape.vocab_size))
        #: Factor on the decoder's logits (1; muP sets 1/width multiplier).
        self.output_multiplier = 1.0

    @torch.no_grad()
    def fold_output_multiplier(self) -> None:
        """Multiply ``output_multiplier`` into ``decoder`` (untied from the embedding)."""
        self.decoder.weight = nn.Parameter(self.decoder.weight * self.output_multiplier)
        self.output_multiplier = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.transform(x))
        if self.output_multiplier != 1.0:
            logits = logits * self.output_multiplier
        return logits + self.bias


class BertPreTrainingHeads(nn.Module):
    """Named ``cls``: masked-LM ``predictions`` and, with nsp, ``seq_relationship``."""

    def __init__(self, shape: ShapeSpec) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(shape)
        self.seq_relationship = nn.Linear(shape.d_model, 2) if shape.nsp else None


class BertForMaskedLM(nn.Module):
    """Masked LM (plus next-sentence prediction when ``shape.nsp``)."""

    def __init__(self, shape: ShapeSpec, dropout: float = 0.0) -> None:
        super().__init__()
        if shape.family != "bert":
            raise ValueError(f"BertForMaskedLM needs a bert shape, got {shape.family!r}")
        self.shape = shape
        self.bert = BertModel(shape, dropout, add_pooling_layer=shape.nsp)
        self.cls = BertPreTrainingHeads(shape)
        if shape.tied_embeddings:
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        #: Factor on the next-sentence logits (1; muP sets 1/width multiplier).
        self.output_multiplier = 1.0
        init_weights(self, shape.n_layer)

    @torch.no_grad()
    def fold_output_multiplier(self) -> None:
        """Multiply ``output_multiplier`` into the next-sentence head."""
        if self.cls.seq_relationship is not None:
            self.cls.seq_relationship.weight.mul_(self.output_multiplier)
            self.cls.seq_relationship.bias.mul_(self.output_multiplier)
        self.output_multiplier = 1.0

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``labels``: the original token at masked positions, -100 elsewhere; the loss
        is their mean cross-entropy, plus the next-sentence cross-entropy when
        ``next_sentence_label`` ``(B,)`` is given (as in ``BertForPreTraining``)."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls.predictions(hidden)
        nsp_logits = None
        if self.bert.pooler is not None:
            nsp_logits = self.cls.seq_relationship(self.bert.pooler(hidden))
            if self.output_multiplier != 1.0:
                nsp_logits = nsp_logits * self.output_multiplier
        loss = None
        if labels is not None:
            loss = cross_entropy(logits, labels)
        if next_sentence_label is not None:
            if nsp_logits is None:
                raise ValueError("next_sentence_label needs a shape with nsp=True")
            nsp_loss = F.cross_entropy(nsp_logits.float(), next_sentence_label.reshape(-1))
            loss = nsp_loss if loss is None else loss + nsp_loss
        return ModelOutput(logits=logits, loss=loss, seq_relationship_logits=nsp_logits)


class BertForSequenceClassification(nn.Module):
    """Encoder, pooler, dropout and a linear classifier over ``num_labels`` classes."""

    def __init__(self, shape: ShapeSpec, num_labels: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if shape.family != "bert":
            raise ValueError(f"BertForSequenceClassification needs a bert shape, got {shape}")
        self.shape = shape
        self.num_labels = num_labels
        self.bert = BertModel(shape, dropout, add_pooling_layer=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(shape.d_model, num_labels)
        #: Factor on the class logits (1; muP sets 1/width multiplier).
        self.output_multiplier = 1.0
        init_weights(self, shape.n_layer)

    @torch.no_grad()
    def fold_output_multiplier(self) -> None:
        """Multiply ``output_multiplier`` into ``classifier``."""
        self.classifier.weight.mul_(self.output_multiplier)
        self.classifier.bias.mul_(self.output_multiplier)
        self.output_multiplier = 1.0

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``labels`` ``(B,)`` class indices; logits ``(B, num_labels)``."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.classifier(self.dropout(self.bert.pooler(hidden)))
        if self.output_multiplier != 1.0:
            logits = logits * self.output_multiplier
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float(), labels.reshape(-1))
        return ModelOutput(logits=logits, loss=loss)
