"""What the pretraining log reports about the class-token embeddings of a batch, besides the loss.

- retrieval top-1: the fraction of the 2N views whose most similar other view is their positive;
- alignment (Wang & Isola, 2020): mean squared distance between the normalised embeddings of positive pairs (lower
  is better);
- uniformity: log of the mean of exp(-2 * squared distance) over all pairs of distinct views that the loss
  compares (same-track negatives masked by NT-Xent are left out; lower is more uniform).
"""

import torch


@torch.no_grad()
def embedding_metrics(logits: torch.Tensor, temperature: float) -> dict[str, float]:
    """The three metrics from NT-Xent logits (`(2N, 2N)` cosine / temperature, self-similarity at -inf, rows ordered
    `[views; positive views]`), which already span the global batch."""
    two_n = logits.shape[0]
    num_pairs = two_n // 2
    targets = torch.arange(two_n, device=logits.device).roll(num_pairs)
    top1 = (logits.argmax(dim=1) == targets).float().mean()
    cosine = (logits.float() * temperature).clamp(-1.0, 1.0)
    squared_distance = 2.0 - 2.0 * cosine  # of unit vectors
    alignment = squared_distance[torch.arange(two_n, device=logits.device), targets].mean()
    # Over the pairs the loss compared: self-similarity and masked same-track negatives are -inf.
    compared = torch.isfinite(logits)
    uniformity = torch.logsumexp(-2.0 * squared_distance[compared], dim=0) - torch.log(
        torch.tensor(float(compared.sum()), device=logits.device)
    )
    return {"retrieval_top1": top1.item(), "alignment": alignment.item(), "uniformity": uniformity.item()}
