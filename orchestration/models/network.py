"""The network's version: one row whose token changes whenever what routing reads
of the network (OUs and their sets, products and replacements, sheets, settings)
changes. Workers keep a snapshot of the network per process and compare tokens
(``orchestration.selectors.network``)."""

from django.db import models


class NetworkVersion(models.Model):
    """A single row (``pk=1``); ``token`` is random, so a rolled-back change can never
    make two different networks carry the same token."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "network version"

    def __str__(self) -> str:
        return self.token
